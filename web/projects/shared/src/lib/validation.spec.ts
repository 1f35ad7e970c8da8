import { FormControl, FormGroup } from '@angular/forms';
import { Code } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { controlMessage, FieldErrors } from './forms';
import { ageOn, COUNTRY, E164, passengerAgeOn, sameAs } from './validation';

const launch = new Date('2027-03-14T15:00:00Z');

describe('passenger age', () => {
  it('counts whole years on the launch date', () => {
    expect(ageOn('2009-03-14', launch)).toBe(18);
    expect(ageOn('2009-03-15', launch)).toBe(17);
    expect(ageOn('1957-03-14', launch)).toBe(70);
    expect(ageOn('1956-03-13', launch)).toBe(71);
    expect(ageOn('2009-02-30', launch)).toBeNull();
    expect(ageOn('14/03/2009', launch)).toBeNull();
  });

  it('refuses passengers under 18 or over 70 on the launch date, with a message naming the age', () => {
    const rule = passengerAgeOn(() => launch);
    expect(rule(new FormControl('2009-03-14'))).toBeNull();
    expect(rule(new FormControl('1957-03-14'))).toBeNull();
    const young = new FormControl('2009-03-15', passengerAgeOn(() => launch));
    expect(young.errors).toEqual({ tooYoung: { age: 17 } });
    expect(controlMessage(young)).toContain('at least 18');
    expect(controlMessage(young)).toContain('17');
    expect(rule(new FormControl('1956-03-13'))).toEqual({ tooOld: { age: 71 } });
    expect(rule(new FormControl('2009-13-01'))).toEqual({ date: true });
    expect(rule(new FormControl(''))).toBeNull();
  });
});

describe('form rules', () => {
  it('knows E.164 phones and ISO country codes', () => {
    expect(E164.test('+14155550100')).toBe(true);
    expect(E164.test('4155550100')).toBe(false);
    expect(E164.test('+0123456789')).toBe(false);
    expect(COUNTRY.test('US')).toBe(true);
    expect(COUNTRY.test('us')).toBe(false);
    expect(COUNTRY.test('USA')).toBe(false);
  });

  it('asks for a repeated password to match', () => {
    const group = new FormGroup(
      { password: new FormControl('correct horse battery'), repeat: new FormControl('correct horse batter') },
      { validators: sameAs('password', 'repeat') },
    );
    expect(group.errors).toEqual({ mismatch: true });
    group.controls.repeat.setValue('correct horse battery');
    expect(group.errors).toBeNull();
  });

  it('shows a field message after submit, and the service\'s message for that field', () => {
    const form = new FormGroup({ email: new FormControl(''), taxId: new FormControl('X1') });
    form.controls.email.addValidators(() => ({ required: true }));
    form.controls.email.updateValueAndValidity();
    const errors = new FieldErrors(form);
    expect(errors.of('email', 'email')).toBe('');
    expect(errors.submit()).toBe(false);
    expect(errors.of('email', 'email')).toBe('Required.');
    errors.failed({ code: Code.InvalidArgument, message: 'bad', fields: { tax_id: 'tax id is not valid for US' } });
    expect(errors.of('taxId', 'tax_id')).toBe('tax id is not valid for US');
  });
});
