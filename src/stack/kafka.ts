/**
 * Kafka for development and tests: one Apache Kafka 4.x node in KRaft mode
 * (broker and controller in one JVM), run with `java` from jars that Maven
 * resolves from the pom in this directory. No Docker, no tarball download.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { dlqTopicFor } from '../dlq/topic';
import { HOST, PACKAGE_ROOT, PORTS, type Layout } from './layout';
import { isAlive, readPid, run, spawnDetached, StackError, stopPid, which } from './proc';
import { waitUntilReady, type ReadyLimits } from './ready';
import { step, type Reporter } from './progress';

export const kafkaBrokers = `${HOST}:${PORTS.kafka}`;
const POM = path.join(PACKAGE_ROOT, 'src', 'stack', 'kafka', 'pom.xml');

/** Topics the stack creates, with partition counts. The ingester's topics get more
 * partitions so that tests and the demo exercise concurrency across partitions. */
export function stackTopics(
  topics: string[],
  outboxTopic: string,
): { topic: string; numPartitions: number }[] {
  return [
    ...topics.map((topic) => ({ topic, numPartitions: 6 })),
    ...topics.map((topic) => ({ topic: dlqTopicFor(topic), numPartitions: 3 })),
    { topic: outboxTopic, numPartitions: 3 },
  ];
}

function requireTool(name: string, hint: string): string {
  const found = which(name);
  if (!found)
    throw new StackError(`${name} is needed for the local Kafka and was not found on PATH.\n  ${hint}`);
  return found;
}

/** Resolves the broker's jars once per pom version into the cache. */
export async function ensureKafkaJars(layout: Layout, report: Reporter): Promise<string> {
  const pom = fs.readFileSync(POM);
  const tag = crypto.createHash('sha256').update(pom).digest('hex').slice(0, 12);
  const libs = path.join(layout.kafkaDir, `libs-${tag}`);
  if (fs.existsSync(path.join(libs, '.complete'))) return libs;
  requireTool('java', 'Install Java 17+ (for example `apt-get install openjdk-17-jre-headless`).');
  const mvn = requireTool('mvn', 'Install Maven 3.8+ (for example `apt-get install maven`).');
  // Maven runs on a copy of the pom in the cache, so it writes nothing into the repository.
  const work = path.join(layout.kafkaDir, `pom-${tag}`);
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'pom.xml'), pom);
  fs.rmSync(libs, { recursive: true, force: true });
  await step(
    'resolving Apache Kafka jars from Maven Central (first run only)',
    () =>
      run(
        mvn,
        ['-B', '-q', 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'],
        { cwd: work, logFile: path.join(layout.logDir, 'kafka-resolve.log') },
      ),
    report,
  );
  fs.writeFileSync(path.join(libs, '.complete'), new Date().toISOString());
  return libs;
}

function serverProperties(dataDir: string): string {
  return `# Written by idem stack up; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${PORTS.kafkaController}
listeners=PLAINTEXT://${HOST}:${PORTS.kafka},CONTROLLER://${HOST}:${PORTS.kafkaController}
advertised.listeners=PLAINTEXT://${HOST}:${PORTS.kafka}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${dataDir}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

const LOG4J2 = `# Written by idem stack up: broker logs at WARN to the process output.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
`;

export function kafkaAdmin(brokers = [kafkaBrokers]) {
  return new Kafka({
    clientId: 'idem-stack',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
}

export async function kafkaHealthy(brokers = [kafkaBrokers]): Promise<boolean> {
  const admin = kafkaAdmin(brokers);
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True once every partition of every topic answers offset requests: right after a
 * restart the broker reports itself up while it still loads its logs and elects
 * leaders, and clients then get NOT_LEADER_FOR_PARTITION. */
export async function kafkaPartitionsReady(brokers = [kafkaBrokers]): Promise<boolean> {
  const admin = kafkaAdmin(brokers);
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
    await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic)));
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Creates the topics that do not exist yet (never changes existing ones). */
export async function ensureTopics(
  brokers: string[],
  topics: { topic: string; numPartitions: number }[],
): Promise<string[]> {
  const admin = new Kafka({ clientId: 'idem-stack', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({ ...t, replicationFactor: 1 })),
      });
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A random KRaft cluster id: 16 bytes in URL-safe base64, never starting
 * with '-', which StorageTool's argument parser would take for an option
 * (Kafka's own `Uuid.randomUuid` skips those ids the same way).
 */
export function kafkaClusterId(random: () => Buffer = () => crypto.randomBytes(16)): string {
  for (;;) {
    const id = random().toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export async function startKafka(
  layout: Layout,
  report: Reporter,
  limits: ReadyLimits,
): Promise<'reused' | 'started'> {
  if (await kafkaHealthy()) return 'reused';
  const java = requireTool(
    'java',
    'Install Java 17+ (for example `apt-get install openjdk-17-jre-headless`).',
  );
  const libs = await ensureKafkaJars(layout, report);
  const dataDir = path.join(layout.kafkaDir, 'data');
  const props = path.join(layout.kafkaDir, 'server.properties');
  const log4j = path.join(layout.kafkaDir, 'log4j2.properties');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(props, serverProperties(dataDir));
  fs.writeFileSync(log4j, LOG4J2);
  const classpath = `${libs}/*`;
  const jvm = [`-Dlog4j2.configurationFile=${log4j}`, '-cp', classpath];
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    // KRaft storage is formatted once; the cluster id is kept in meta.properties.
    await run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', kafkaClusterId(), '-c', props], {
      logFile: path.join(layout.logDir, 'kafka-format.log'),
    });
  }
  const logFile = path.join(layout.logDir, 'kafka.log');
  await step(
    `starting Kafka (KRaft) on ${kafkaBrokers}`,
    async () => {
      const pid = spawnDetached({
        name: 'kafka',
        command: java,
        args: [
          '-Xms256m',
          '-Xmx768m',
          '-XX:+UseG1GC',
          '-Djava.awt.headless=true',
          ...jvm,
          'kafka.Kafka',
          props,
        ],
        runDir: layout.runDir,
        logFile,
      });
      const ready = { limits, pid, logFile };
      await waitUntilReady('Kafka', () => kafkaHealthy(), ready);
      await waitUntilReady('Kafka partition leaders', () => kafkaPartitionsReady(), ready);
    },
    report,
  );
  return 'started';
}

export async function stopKafka(layout: Layout): Promise<boolean> {
  return stopPid(layout.runDir, 'kafka', 60_000);
}

export function kafkaPid(layout: Layout): number | undefined {
  const pid = readPid(layout.runDir, 'kafka');
  return isAlive(pid) ? pid : undefined;
}
