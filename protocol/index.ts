export * from './messages.js';
export * from './frame.js';
export * from './connection.js';
