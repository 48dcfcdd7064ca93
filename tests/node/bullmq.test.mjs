// BullMQ against a Redis-compatible server (ferrokv in the test suite; any redis-server
// works the same): a Queue and a Worker process normal, delayed, prioritized and retried
// jobs, and every job completes exactly once. Run by tests/python/test_bullmq.py:
//
//   node tests/node/bullmq.test.mjs <port>
//
// Exits 0 on success; prints what went wrong and exits 1 otherwise.
import { Queue, Worker, QueueEvents } from 'bullmq';
import assert from 'node:assert/strict';

const port = Number(process.argv[2] ?? 6379);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const name = `ferrokv-bullmq-${process.pid}`;

const runs = new Map(); // job name -> times the processor ran it
const order = []; // job names in the order the worker started them
const completed = new Map(); // job name -> completions seen by the worker
const failedEvents = []; // job names of failed attempts

function count(map, key) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

async function main() {
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  await queue.obliterate({ force: true });

  // Prioritized jobs are added while no worker runs, so their order is the queue's choice.
  await queue.add('prio-low', { n: 1 }, { priority: 10 });
  await queue.add('prio-high', { n: 2 }, { priority: 1 });
  await queue.add('prio-mid', { n: 3 }, { priority: 5 });
  const normal = [];
  for (let i = 0; i < 20; i++) normal.push({ name: `normal-${i}`, data: { n: i } });
  await queue.addBulk(normal);
  const delayedAt = Date.now();
  await queue.add('delayed', { n: 0 }, { delay: 700 });
  await queue.add('retried', { n: 0 }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  const total = 3 + 20 + 2;

  let delayedRanAt = 0;
  // Done when the worker and the queue's event stream (XREAD on the events stream) have
  // both seen every completion.
  let eventCompletions = 0;
  let checkDone = () => {};
  const allDone = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for the jobs')), 30000);
    checkDone = () => {
      const seen = [...completed.values()].reduce((a, b) => a + b, 0);
      if (seen >= total && eventCompletions >= total) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  events.on('completed', () => {
    eventCompletions += 1;
    checkDone();
  });

  const worker = new Worker(
    name,
    async (job) => {
      count(runs, job.name);
      order.push(job.name);
      if (job.name === 'delayed') delayedRanAt = Date.now();
      if (job.name === 'retried' && job.attemptsMade < 2) {
        throw new Error(`attempt ${job.attemptsMade + 1} fails`);
      }
      return { doubled: job.data.n * 2, name: job.name };
    },
    { connection, concurrency: 1 },
  );
  worker.on('completed', (job) => {
    count(completed, job.name);
    checkDone();
  });
  worker.on('failed', (job) => failedEvents.push(job.name));
  worker.on('error', (err) => console.error('worker error:', err));

  await allDone;
  // Let any stray duplicate delivery show up before counting.
  await new Promise((r) => setTimeout(r, 300));

  try {
    for (const j of normal) {
      assert.equal(runs.get(j.name), 1, `${j.name} ran once`);
      assert.equal(completed.get(j.name), 1, `${j.name} completed once`);
    }
    for (const p of ['prio-low', 'prio-high', 'prio-mid', 'delayed']) {
      assert.equal(runs.get(p), 1, `${p} ran once`);
      assert.equal(completed.get(p), 1, `${p} completed once`);
    }
    assert.equal(runs.get('retried'), 3, 'retried: two failed attempts and one success');
    assert.equal(completed.get('retried'), 1, 'retried completed once');
    assert.deepEqual(failedEvents, ['retried', 'retried']);
    assert.equal(eventCompletions, total, 'the events stream reported each completion once');
    // Priorities: among the prioritized jobs, the highest priority (lowest number) first.
    const prio = order.filter((n) => n.startsWith('prio-'));
    assert.deepEqual(prio, ['prio-high', 'prio-mid', 'prio-low']);
    assert.ok(delayedRanAt - delayedAt >= 600, `delayed job ran after its delay (${delayedRanAt - delayedAt} ms)`);

    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active', 'prioritized');
    assert.deepEqual(counts, { completed: total, failed: 0, waiting: 0, delayed: 0, active: 0, prioritized: 0, paused: 0 });
    const retried = (await queue.getCompleted()).find((j) => j.name === 'retried');
    assert.equal(retried.attemptsMade, 3);
    assert.deepEqual(retried.returnvalue, { doubled: 0, name: 'retried' });
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
  console.log(`bullmq: ${total} jobs, each completed once`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    console.error({ runs: Object.fromEntries(runs), completed: Object.fromEntries(completed), order, failedEvents });
    process.exit(1);
  },
);
