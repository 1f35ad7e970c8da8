// The shared library of the web apps: generated clients, the transport and session, errors,
// formatting and the page frame.
export * from './lib/api';
export * from './lib/errors';
export * from './lib/format';
export * from './lib/session';
export * from './lib/shell';
export * from './lib/validation';
export * from './lib/start';
export * from './lib/forms';
export * from './lib/confirm';
export * from './lib/guard';
export * from './lib/actions';
export * from './lib/download';
export * from './lib/pager';
