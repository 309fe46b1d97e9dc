/**
 * Temporal Web as the stuck-event monitor, in a real browser: on the local stack, an event whose
 * handler blocks on a gate stays running; headless Chromium (Debian's, driven by playwright-core)
 * opens the dev server's Temporal Web, enters a visibility query on idem's search attributes in
 * the namespace's workflow list, finds the event's workflow, opens it and reads its search
 * attributes and memo (the Kafka coordinates) on the page.
 *
 * Screenshots of each screen go to a temporary directory, so a run leaves the tree clean; with
 * IDEM_UPDATE_SCREENSHOTS=1 they replace the ones in docs/screenshots/ that operations.md shows.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { workflowIdFor } from '../../src/events/identity';
import { stuckQuery } from '../../src/observability/stuck';
import { ceRecord, createPipeline, ledgerRegistry, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const DOCS_SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const VIEWPORT = { width: 1280, height: 800 };
/** The UI polls and renders on a busy 2-core machine: generous, and never a measure of speed. */
const UI_WAIT_MS = 60_000;
const STUCK_AFTER_MS = 2000;

const UPDATE_DOCS = process.env.IDEM_UPDATE_SCREENSHOTS === '1';
/** A run's screenshots: kept when the test fails (with one of the failing screen), else removed. */
const shotDir = UPDATE_DOCS ? DOCS_SCREENSHOTS : path.join(os.tmpdir(), `idem-temporal-web-${process.pid}`);

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, `${name}.png`) });
}

/** Waits until the page's visible text holds `text` (the UI renders JSON in a code view). */
async function shows(page: Page, text: string): Promise<void> {
  // A string, evaluated in the page: this project's TypeScript has no DOM types.
  await page.waitForFunction(`document.body.innerText.includes(${JSON.stringify(text)})`);
}

/** Enters a visibility query in the workflow list's query editor, as an operator pastes one, and
 * waits for the UI's list call with exactly that query to answer (not the previous list's). */
async function filterList(page: Page, query: string): Promise<void> {
  const input = page.getByTestId('manual-search-input');
  if (!(await input.isVisible())) await page.getByTestId('toggle-manual-query').click();
  await input.fill(query);
  const listed = page.waitForResponse((r) => {
    const url = new URL(r.url());
    return url.pathname.endsWith('/workflows') && url.searchParams.get('query') === query;
  });
  await page.getByTestId('manual-search-button').click();
  expect((await listed).status()).toBe(200);
}

describe('Temporal Web', () => {
  let p: Pipeline;
  let browser: Browser | undefined;
  let passed = false;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    p = await createPipeline('web', {
      IDEM_STUCK_AFTER_MS: String(STUCK_AFTER_MS),
      // The handler blocks longer than an attempt may otherwise take.
      IDEM_ATTEMPT_TIMEOUT_MS: '300000',
    });
    browser = await chromium.launch({
      executablePath: process.env.IDEM_CHROMIUM ?? '/usr/bin/chromium',
      // Playwright adds --headless and, as root needs, --no-sandbox. Chromium's own calls home
      // would be refused by a closed network, many at a time: turned off.
      args: [
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    release();
    await browser?.close();
    await p?.close();
    if (passed && !UPDATE_DOCS) fs.rmSync(shotDir, { recursive: true, force: true });
  });

  test('finds a stuck idem event by its search attributes and shows its memo', async () => {
    const registry = ledgerRegistry().register('test.blocking', () => gate);
    await p.start(['ingester', 'worker'], registry);
    const run = crypto.randomBytes(3).toString('hex');
    const id = `web-${run}`;
    const key = `acct-web-${run}`;
    const workflowId = workflowIdFor(p.source, id);
    await p.producer.send({
      topic: p.topic,
      messages: [ceRecord(p.source, { id, type: 'test.blocking', data: {} }, key)],
    });
    // Running in Temporal's visibility, and past the stuck threshold, before the browser looks.
    const listed = await eventually(
      async () => {
        for await (const wf of p.temporal.workflow.list({
          query: stuckQuery(p.config.temporal.taskQueue, new Date(Date.now() - STUCK_AFTER_MS)),
        }))
          if (wf.workflowId === workflowId) return wf;
        return undefined;
      },
      60_000,
      'the blocked event to be listed running past the stuck threshold',
    );

    const page = await (browser as Browser).newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(UI_WAIT_MS);
    try {
      const web = p.config.temporal.webUrl.replace(/\/+$/, '');
      const namespace = p.config.temporal.namespace;
      await page.goto(`${web}/namespaces/${encodeURIComponent(namespace)}/workflows`);
      const row = page.getByRole('link', { name: workflowId, exact: true });
      const oneWorkflow = page.getByText(/^1 Workflow$/);

      // The runbook's stuck-event query (operations.md, Metrics), as the scanner asks it.
      await filterList(page, stuckQuery(p.config.temporal.taskQueue, new Date(Date.now() - STUCK_AFTER_MS)));
      await row.waitFor();
      await oneWorkflow.waitFor();
      await shot(page, 'temporal-web-stuck');

      // One event by its key, from the list of running ones: the filter matches it and nothing else.
      await filterList(page, `IdemEventKey = "${key}" AND ExecutionStatus = "Running"`);
      await row.waitFor();
      await oneWorkflow.waitFor();
      await shot(page, 'temporal-web-list-filtered');

      await row.click();
      await page.waitForURL((u) => u.pathname.includes(encodeURIComponent(workflowId)));
      await page.getByText(listed.runId).first().waitFor();
      await shows(page, `"key": "${key}"`); // the workflow's input, on the history tab
      await shot(page, 'temporal-web-workflow');
      const text = await page.locator('body').innerText();
      expect(text).toContain(workflowId);
      expect(text).toContain('processEvent');
      expect(text).toContain(p.config.temporal.taskQueue);
      expect(text).toMatch(/Running/);

      await page.getByRole('tab', { name: 'Search Attributes' }).click();
      await page.waitForURL(/\/search-attributes$/);
      await shows(page, `"IdemEventKey": "${key}"`);
      await shows(page, `"IdemEventType": "test.blocking"`);
      await shows(page, `"IdemSource": "${p.source}"`);
      await shot(page, 'temporal-web-search-attributes');

      // The Kafka coordinates the ingester put in the memo at start, as Temporal holds them.
      const { memo } = await p.temporal.workflow.getHandle(workflowId).describe();
      const kafka = (memo as { kafka: { topic: string; partition: number; offset: string } }).kafka;
      expect(kafka).toMatchObject({ topic: p.topic, offset: '0' });
      await page.getByRole('tab', { name: 'Memo' }).click();
      await page.waitForURL(/\/memo$/);
      await shows(page, `"topic": "${p.topic}"`);
      await shows(page, `"partition": ${kafka.partition}`);
      await shows(page, `"offset": "${kafka.offset}"`);
      await shot(page, 'temporal-web-memo');
      passed = true;
    } catch (err) {
      await shot(page, 'failure').catch(() => undefined);
      throw new Error(`${(err as Error).message}\n(screenshots in ${shotDir})`);
    } finally {
      await page.close();
    }
  });
});
