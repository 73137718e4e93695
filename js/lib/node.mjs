// Node entry (import): re-exports the CommonJS entry, so `import` and `require` share one instance.
import api from './index.cjs';

export const { inspectToken, hashToken, Validator, PolicyError, initSync } = api;
export default api.init;
