// Serves the add-on on http://127.0.0.1:<port>/js/examples/sheets-addon/ (from the repository root,
// so the page reaches js/dist and examples/policy.json). Build first: bash js/scripts/build.sh
import { serve } from '../../test/support/server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const { url } = await serve(root);
console.log(`${url}/js/examples/sheets-addon/`);
