// Opens a paused renewal run's page in the Prefect UI (headless chromium), opens the Resume form,
// prints what the form shows as one JSON line, and, given a chain file, fills it in and submits.
// usage: node approve_in_ui.js UI_URL RUN_ID [CHAIN_FILE APPROVER]
const fs = require('fs');
const { chromium } = require('playwright-core');

(async () => {
  const [ui, run, chainFile, approver] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CERTOPS_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    page.setDefaultTimeout(60000);
    await page.goto(`${ui}/runs/flow-run/${run}`, { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Resume' }).click();
    const form = page.locator('.p-modal__card');
    await form.locator('.schema-form-property').first().waitFor();
    const field = (label) => form.locator('.schema-form-property').filter({ hasText: label }).locator('textarea');
    const shown = {
      description: await form.locator('.p-modal__body > article.markdown-renderer').innerText(),
      labels: await form.locator('.schema-form-property__label').allInnerTexts(),
    };
    console.log(JSON.stringify(shown));
    if (chainFile) {
      await field('Signed certificates').fill(fs.readFileSync(chainFile, 'utf8'));
      await field('Your name').fill(approver);
      await form.getByRole('button', { name: 'Submit' }).click();
      await form.waitFor({ state: 'detached' });
    }
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
