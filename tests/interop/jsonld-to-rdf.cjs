// jsonld.js (the JSON-LD 1.1 reference implementation in JavaScript) turning each JSON-LD file
// given into N-Quads, with the W3C WoT contexts SEAM bundles served from its own copies and any
// other context refused (nothing is fetched). One JSON line per file: {file, nquads} or
// {file, error}.
//
// Usage: node jsonld-to-rdf.cjs CONTEXT_DIR FILE...
const fs = require('fs');
const path = require('path');
const jsonld = require(`${process.env.SEAM_NODE_MODULES}/jsonld`);

const [contextDir, ...files] = process.argv.slice(2);
const contexts = {
  'https://www.w3.org/2019/wot/td/v1': 'td-context-1.0.jsonld',
  'https://www.w3.org/2022/wot/td/v1.1': 'td-context-1.1.jsonld',
  'https://www.w3.org/2022/wot/discovery': 'discovery-core.jsonld',
};
const documentLoader = async (url) => {
  const file = contexts[url.replace(/\/$/, '')];
  if (!file) throw new Error(`context ${url} is not bundled`);
  return { contextUrl: null, documentUrl: url, document: JSON.parse(fs.readFileSync(path.join(contextDir, file), 'utf8')) };
};

(async () => {
  for (const file of files) {
    try {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
      const nquads = await jsonld.toRDF(doc, { format: 'application/n-quads', documentLoader, safe: false });
      console.log(JSON.stringify({ file, nquads }));
    } catch (e) {
      console.log(JSON.stringify({ file, error: String(e.message || e) }));
    }
  }
})();
