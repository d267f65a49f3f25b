// When the service backs up: slots from the config schedule (local time), and whether one was missed.
import type { AgentSchedule } from './config-types.js';
import { SCHEDULE_DAYS } from './config-schema.js';

/** Day name -> Date.getDay() number: the schema lists Monday first, getDay() counts from Sunday (0). */
const DAY_INDEX = new Map<string, number>(SCHEDULE_DAYS.map((day, i) => [day, (i + 1) % 7]));

/** The latest schedule slot at or before `now`, or undefined for a manual schedule. */
export function previousSlot(schedule: AgentSchedule, now: Date): Date | undefined {
  const [hh, mm] = schedule.at.split(':').map(Number);
  const d = new Date(now);
  d.setSeconds(0, 0);
  switch (schedule.frequency) {
    case 'manual':
      return undefined;
    case 'hourly':
      d.setMinutes(mm);
      if (d > now) d.setHours(d.getHours() - 1);
      return d;
    case 'daily':
      d.setHours(hh, mm);
      if (d > now) d.setDate(d.getDate() - 1);
      return d;
    case 'weekly': {
      d.setHours(hh, mm);
      const want = DAY_INDEX.get(schedule.day ?? SCHEDULE_DAYS[0])!;
      let back = (d.getDay() - want + 7) % 7;
      if (back === 0 && d > now) back = 7;
      d.setDate(d.getDate() - back);
      return d;
    }
  }
}

/** The first slot after `now`. */
export function nextSlot(schedule: AgentSchedule, now: Date): Date | undefined {
  const prev = previousSlot(schedule, now);
  if (!prev) return undefined;
  const d = new Date(prev);
  if (schedule.frequency === 'hourly') d.setHours(d.getHours() + 1);
  else if (schedule.frequency === 'daily') d.setDate(d.getDate() + 1);
  else d.setDate(d.getDate() + 7);
  return d;
}

/**
 * When the next backup is due: now when the latest slot passed without a successful backup
 * (machine was off, first run), otherwise the next slot; undefined for a manual schedule.
 */
export function nextBackupDue(schedule: AgentSchedule, lastSuccess: Date | undefined, now: Date): Date | undefined {
  const prev = previousSlot(schedule, now);
  if (!prev) return undefined;
  if (!lastSuccess || lastSuccess < prev) return now;
  return nextSlot(schedule, now);
}
