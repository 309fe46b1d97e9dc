/**
 * Fault scenario (issue 9): a full replay. Once the backlog is applied, a consumer in a new group
 * reads the topic again from its earliest offset (what an operator's offset reset, a lost
 * __consumer_offsets or a migration to a new group does): every record is a duplicate, caught by
 * the ingester's store lookup, Temporal's workflow-ID rejection or processed_events; nothing
 * applies twice.
 */
import { allCommitted } from '../support/pipeline';
import { eventually } from '../support/poll';
import { count, EVENTS, faultScenario } from './support';

faultScenario({
  name: 'replay',
  title:
    'a full replay of the topic from its earliest offset by a new consumer group, after the backlog is applied',
  async fault({ p, procs, a, b }) {
    await eventually(
      async () => (await count(p, 'select count(*) n from ledger_entries')) >= EVENTS,
      600_000,
      'the backlog applied',
    );
    const group = `${p.config.kafka.groupId}-replay`;
    const r = procs.start('R', { KAFKA_GROUP_ID: group });
    const from = Date.now();
    await allCommitted(p, group, 600_000);
    const seconds = Math.round((Date.now() - from) / 1000);
    return { what: `the whole topic replayed by a new group in ${seconds} s`, running: [a, b, r] };
  },
});
