import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../../schemas/tenant-settings.ts';
import type { TenantRecord } from '../auth/key-table.ts';
import { TenantPrivacy } from './tenant-privacy.ts';

const meta = { requestId: 'r', ip: '203.0.113.9', userAgent: 'ua', receivedAt: new Date(0) };
const hashing: TenantSettings = { ...DEFAULT_TENANT_SETTINGS, piiHash: ['properties.email'] };

function privacy(settings: Record<string, TenantSettings>) {
  const asked: string[] = [];
  const keys = { tenant: (id: string): TenantRecord | undefined => (settings[id] ? { id, name: 'shop', allowedOrigins: [], deleted: false, settings: settings[id] } : undefined) };
  const p = new TenantPrivacy(keys, { forTenant: (id) => (asked.push(id), Buffer.from(`key-of-${id}`)) });
  return { p, asked };
}

test('a tenant without settings gets the defaults and no hashing key is derived', () => {
  const { p, asked } = privacy({});
  const ctx = p.forRequest({ tenantId: 'ten_AAAAAAAAAAAA', keyId: 'k', scope: 'ingest' }, meta);
  assert.deepEqual(ctx, { settings: DEFAULT_TENANT_SETTINGS, hashKey: undefined, doNotTrack: false, browser: false });
  assert.deepEqual(asked, []);
});

test("a tenant that hashes paths gets its own key; a browser key's DNT is carried", () => {
  const { p, asked } = privacy({ ten_BBBBBBBBBBBB: hashing });
  const ctx = p.forRequest({ tenantId: 'ten_BBBBBBBBBBBB', keyId: 'k', scope: 'browser' }, { ...meta, doNotTrack: true });
  assert.equal(ctx.settings, hashing);
  assert.deepEqual(ctx.hashKey, Buffer.from('key-of-ten_BBBBBBBBBBBB'));
  assert.equal(ctx.doNotTrack, true);
  assert.equal(ctx.browser, true);
  assert.deepEqual(asked, ['ten_BBBBBBBBBBBB']);
});

test('a tenant with the scrubber on gets its key too: ids holding personal data are replaced by their keyed hash', () => {
  const { p, asked } = privacy({ ten_CCCCCCCCCCCC: { ...DEFAULT_TENANT_SETTINGS, scrubPii: true } });
  const ctx = p.forRequest({ tenantId: 'ten_CCCCCCCCCCCC', keyId: 'k', scope: 'ingest' }, meta);
  assert.deepEqual(ctx.hashKey, Buffer.from('key-of-ten_CCCCCCCCCCCC'));
  assert.deepEqual(asked, ['ten_CCCCCCCCCCCC']);
});
