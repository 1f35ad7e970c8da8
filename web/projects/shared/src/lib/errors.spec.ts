import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { BadRequestSchema, ErrorInfoSchema } from '../gen/google/rpc/error_details_pb';
import { describeError } from './errors';

describe('describeError', () => {
  it('puts each field violation of a google.rpc.BadRequest under its field', () => {
    const failure = new ConnectError('passenger 2 is too young', Code.InvalidArgument, undefined, [
      {
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: [
            { field: 'passengers[1].date_of_birth', description: 'must be 18 to 70 on the launch date' },
            { field: 'passengers[0].email', description: 'not an e-mail address' },
          ],
        }),
      },
      { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: 'PASSENGER_AGE', domain: 'booking' }) },
    ]);
    expect(describeError(failure)).toEqual({
      code: Code.InvalidArgument,
      message: 'passenger 2 is too young',
      fields: {
        'passengers[1].date_of_birth': 'must be 18 to 70 on the launch date',
        'passengers[0].email': 'not an e-mail address',
      },
    });
  });

  it('says something useful when the service said nothing, and never throws on odd errors', () => {
    expect(describeError(new ConnectError('', Code.Unavailable)).message).toContain('not reachable');
    expect(describeError(new TypeError('Failed to fetch'))).toMatchObject({ code: Code.Unknown, fields: {} });
    expect(describeError('a string').fields).toEqual({});
  });
});
