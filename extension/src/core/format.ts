export { formatBytes } from '../../../common/format.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** "14:03:12" today, "2026-11-24 14:03" otherwise, plus a relative hint. */
export function formatWhen(when: Date, now: Date = new Date()): string {
  const sameDay = when.toDateString() === now.toDateString();
  const clock = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  const abs = sameDay ? `today ${clock}:${pad(when.getSeconds())}` : `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ${clock}`;
  const secs = Math.round((now.getTime() - when.getTime()) / 1000);
  let rel: string;
  if (secs < 0) rel = 'just now';
  else if (secs < 60) rel = 'just now';
  else if (secs < 3600) rel = `${Math.floor(secs / 60)} min ago`;
  else if (secs < 86400) rel = `${Math.floor(secs / 3600)} h ago`;
  else rel = `${Math.floor(secs / 86400)} d ago`;
  return `${abs} (${rel})`;
}
