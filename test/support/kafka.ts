/** Reading a topic and asking the broker about a consumer group, for idem's tests. */
import { AssignerProtocol, type Kafka, type KafkaMessage } from 'kafkajs';
import { flattenHeaders } from '../../src/events/kafka-headers';
import { readToEnd } from '../../src/kafka/read-to-end';

/** One record of a topic: key, value and headers as UTF-8 text, and the message as kafkajs gave it. */
export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  message: KafkaMessage;
}

/** How many records the topic holds now, from the broker's offsets. */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every record of a topic from its beginning to the end it has when the call starts,
 * ordered by partition then offset. Reads with a throwaway consumer group that commits
 * nothing and is deleted afterwards.
 */
export async function readAll(kafka: Kafka, topic: string): Promise<TopicRecord[]> {
  const out: TopicRecord[] = [];
  await readToEnd(kafka, topic, (partition, message) => out.push(toRecord(partition, message)), {
    groupPrefix: 'test-reader',
  });
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

function toRecord(partition: number, message: KafkaMessage): TopicRecord {
  const headers = Object.fromEntries(
    Object.entries(flattenHeaders(message.headers)).map(([k, v]) => [k, v.toString()]),
  );
  return {
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    headers,
    message,
  };
}

/** A member of a consumer group and the partitions of one topic the broker assigned to it. */
export interface GroupMember {
  memberId: string;
  partitions: number[];
}

/** The group's state and its members' partitions of `topic` (sorted), as the broker describes them. */
export async function groupMembers(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<{ state: string; members: GroupMember[] }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    const members = (group?.members ?? []).map((m) => {
      const decoded = m.memberAssignment.length
        ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
        : null;
      const partitions = [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b);
      return { memberId: m.memberId, partitions };
    });
    return { state: group?.state ?? 'Unknown', members };
  } finally {
    await admin.disconnect();
  }
}
