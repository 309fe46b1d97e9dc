/**
 * Temporal Web as the stuck-event monitor, in a real browser: on the local stack, an event whose
 * handler blocks on a gate stays running; headless Chromium (Debian's, driven by playwright-core)
 * opens the dev server's Temporal Web, enters visibility queries on idem's search attributes in
 * the namespace's workflow list (the stuck scanner's, then one by IdemEventKey), finds the event's
 * workflow, opens it and reads its search attributes and memo (the Kafka coordinates) on the page.
 * An event whose handler keeps failing is found the same way by IdemStage and IdemAttempts, and
 * its page shows IdemErrorClass and the memo's lastError.
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
/** A run's screenshots: kept when a test fails (with one of the failing screen), else removed. */
const shotDir = UPDATE_DOCS ? DOCS_SCREENSHOTS : path.join(os.tmpdir(), `idem-temporal-web-${process.pid}`);

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, `${name}.png`) });
}

/** The page's own `document`, as far as this test reads it (this project's TypeScript has no DOM
 * types). */
type PageGlobals = { document: { body: { innerText: string } | null } };

/** Waits until the page's visible text holds `text` (the UI renders JSON in a code view). A
 * function, not a string: Temporal Web's page starts with a Content-Security-Policy that forbids
 * evaluating strings, so a string predicate run while the page loads fails at once (EvalError;
 * seen on a busy machine). */
async function shows(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (t) => (globalThis as unknown as PageGlobals).document.body?.innerText.includes(t) === true,
    text,
  );
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

/** A handler's error that is not permanent: the event is retried, and Temporal Web shows it so. */
class LedgerOfflineError extends Error {
  override name = 'LedgerOfflineError';
}

describe('Temporal Web', () => {
  let p: Pipeline;
  let browser: Browser | undefined;
  let failed = false;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const run = crypto.randomBytes(3).toString('hex');

  beforeAll(async () => {
    p = await createPipeline('web', {
      IDEM_STUCK_AFTER_MS: String(STUCK_AFTER_MS),
      // The blocking handler takes longer than an attempt may otherwise take; the failing one is
      // retried every second or two for as long as the test looks at it.
      IDEM_ATTEMPT_TIMEOUT_MS: '300000',
      IDEM_MAX_ATTEMPTS: '1000',
      IDEM_RETRY_INITIAL_MS: '1000',
      IDEM_RETRY_MAX_MS: '2000',
    });
    const registry = ledgerRegistry()
      .register('test.blocking', () => gate)
      .register('test.failing', () => {
        throw new LedgerOfflineError('the ledger is offline');
      });
    await p.start(['ingester', 'worker'], registry);
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
    // Terminates the workflows still running (the failing event's).
    await p?.close();
    if (!failed && !UPDATE_DOCS) fs.rmSync(shotDir, { recursive: true, force: true });
  });

  /** Sends one event and returns its workflow ID. */
  async function send(id: string, type: string, key: string): Promise<string> {
    await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, { id, type, data: {} }, key)] });
    return workflowIdFor(p.source, id);
  }

  /** Waits until Temporal's visibility lists the workflow under `query` (asked anew each time:
   * the stuck query holds the time it is made at), as the UI will ask. */
  async function listedBy(query: () => string, workflowId: string, what: string) {
    return eventually(
      async () => {
        for await (const wf of p.temporal.workflow.list({ query: query() }))
          if (wf.workflowId === workflowId) return wf;
        return undefined;
      },
      60_000,
      what,
    );
  }

  /** A 1280x800 page on the namespace's workflow list; on failure, a screenshot of where it was. */
  async function onWorkflowList(fn: (page: Page) => Promise<void>): Promise<void> {
    const page = await (browser as Browser).newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(UI_WAIT_MS);
    try {
      const web = p.config.temporal.webUrl.replace(/\/+$/, '');
      await page.goto(`${web}/namespaces/${encodeURIComponent(p.config.temporal.namespace)}/workflows`);
      await fn(page);
    } catch (err) {
      failed = true;
      await shot(page, 'failure').catch(() => undefined);
      throw new Error(`${(err as Error).message}\n(screenshots in ${shotDir})`);
    } finally {
      await page.close();
    }
  }

  /**
   * The filtered list holds exactly one workflow: its pager says "1–1 of 1". Not the heading's
   * "1 Workflow": that is a separate count query, which on a visibility store of a few hundred
   * thousand workflows (the stack's after many test runs) can lag the list by minutes.
   */
  async function oneRow(page: Page): Promise<void> {
    await page.getByText(/^\s*1\s*[–-]\s*1\s+of\s+1\s*$/).waitFor();
  }

  /** Filters the list, finds the workflow as its one row, screenshots the list, opens it. */
  async function findAndOpen(
    page: Page,
    query: string,
    workflowId: string,
    screenshot: string,
  ): Promise<void> {
    await filterList(page, query);
    const row = page.getByRole('link', { name: workflowId, exact: true });
    await row.waitFor();
    await oneRow(page);
    await shot(page, screenshot);
    await row.click();
    await page.waitForURL((u) => u.pathname.includes(encodeURIComponent(workflowId)));
  }

  async function openTab(page: Page, tab: 'Search Attributes' | 'Memo'): Promise<void> {
    await page.getByRole('tab', { name: tab }).click();
    await page.waitForURL(tab === 'Memo' ? /\/memo$/ : /\/search-attributes$/);
  }

  test('finds a stuck idem event by its search attributes and shows its memo', async () => {
    const key = `acct-web-${run}`;
    const workflowId = await send(`web-${run}`, 'test.blocking', key);
    // Running in Temporal's visibility, and past the stuck threshold, before the browser looks.
    const stuck = () => stuckQuery(p.config.temporal.taskQueue, new Date(Date.now() - STUCK_AFTER_MS));
    const listed = await listedBy(stuck, workflowId, 'the blocked event to be listed as stuck');

    await onWorkflowList(async (page) => {
      // The runbook's stuck-event query (operations.md, Metrics), as the scanner asks it.
      await filterList(page, stuck());
      await page.getByRole('link', { name: workflowId, exact: true }).waitFor();
      await oneRow(page);
      await shot(page, 'temporal-web-stuck');

      // One event by its key, among the running ones: the filter matches it and nothing else.
      const byKey = `IdemEventKey = "${key}" AND ExecutionStatus = "Running"`;
      await findAndOpen(page, byKey, workflowId, 'temporal-web-list-filtered');
      await page.getByText(listed.runId).first().waitFor();
      await shows(page, `"key": "${key}"`); // the workflow's input, on the history tab
      await shot(page, 'temporal-web-workflow');
      const text = await page.locator('body').innerText();
      expect(text).toContain(workflowId);
      expect(text).toContain('processEvent');
      expect(text).toContain(p.config.temporal.taskQueue);
      expect(text).toMatch(/Running/);

      await openTab(page, 'Search Attributes');
      await shows(page, `"IdemEventKey": "${key}"`);
      await shows(page, `"IdemEventType": "test.blocking"`);
      await shows(page, `"IdemSource": "${p.source}"`);
      await shot(page, 'temporal-web-search-attributes');

      // The Kafka coordinates the ingester put in the memo at start, as Temporal holds them.
      const { memo } = await p.temporal.workflow.getHandle(workflowId).describe();
      const kafka = (memo as { kafka: { topic: string; partition: number; offset: string } }).kafka;
      expect(kafka).toMatchObject({ topic: p.topic, offset: '0' });
      await openTab(page, 'Memo');
      await shows(page, `"topic": "${p.topic}"`);
      await shows(page, `"partition": ${kafka.partition}`);
      await shows(page, `"offset": "${kafka.offset}"`);
      await shot(page, 'temporal-web-memo');
    });
  });

  test('finds a retrying event by IdemStage and shows its error class and last error', async () => {
    const workflowId = await send(`web-failing-${run}`, 'test.failing', `acct-failing-${run}`);
    const retrying = `IdemStage = "retrying" AND IdemAttempts >= 2 AND IdemSource = "${p.source}"`;
    await listedBy(() => retrying, workflowId, 'the failing event to be listed retrying after 2 attempts');

    await onWorkflowList(async (page) => {
      await findAndOpen(page, retrying, workflowId, 'temporal-web-retrying');
      await openTab(page, 'Search Attributes');
      await shows(page, `"IdemStage": "retrying"`);
      await shows(page, `"IdemErrorClass": "LedgerOfflineError"`);
      await openTab(page, 'Memo');
      await shows(page, `"lastError"`);
      await shows(page, 'LedgerOfflineError: the ledger is offline');
      await shot(page, 'temporal-web-retrying-memo');
    });
  });
});
