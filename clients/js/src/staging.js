// §10a: staging. While it works, the device downloads the site's next release into its
// package store within one of the site's slots, verifies it and keeps it without installing
// it. After END the directive names the same sha256 (`staged: true`) and `download` finds the
// package complete in the store: it verifies it and installs it without a byte on the network.
import { Refusal } from './api.js';
import { download } from './download.js';

/**
 * Stage now if the gateway gives a slot.
 * @param {import('./api.js').DeviceApi} api
 * @param {import('./download.js').PackageStore} store
 * @param {{signal?: AbortSignal}} [options]
 * @returns {Promise<{outcome: 'staged' | 'nothing' | 'busy', version?: string,
 *   retryAfterS?: number}>} `busy`: ask again after `retryAfterS`
 */
export async function stage(api, store, options = {}) {
  let offer;
  try {
    offer = await api.staging();
  } catch (error) {
    if (error instanceof Refusal && error.code === 'staging_busy') {
      return { outcome: 'busy', retryAfterS: error.retryAfterS ?? 15 };
    }
    throw error;
  }
  if (offer === null) return { outcome: 'nothing' };
  await download(api, offer, store, options); // resumes a partial one; verified (§10.2)
  await api.staged(offer.sha256);
  return { outcome: 'staged', version: offer.version };
}
