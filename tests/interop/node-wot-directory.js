// Eclipse Thingweb node-wot, a WoT consumer written by others, drives SEAM's Thing Description
// Directory through the directory's own TD alone: it fetches `/.well-known/wot`, validates it
// with its own TD checks, consumes it, and invokes the W3C directory model's affordances by name.
// node-wot knows nothing of SEAM: every URL, method, media type and credential comes from the TD.
//
// Usage: node node-wot-directory.js BASE_URL TOKEN
// Prints one JSON object: what each step saw (the Rust test asserts on it).
//
// Events are not exercised here: node-wot's SSE client listens to unnamed events only, and the
// Discovery specification names each event (`event: thing_created`); SEAM's own tests read them.

const path = require("path");
const modules = process.env.SEAM_NODE_MODULES;
const { Servient, JsonCodec, ContentSerdes } = require(path.join(modules, "@node-wot/core"));
const { HttpClientFactory } = require(path.join(modules, "@node-wot/binding-http"));

async function text(output) {
  return Buffer.from(await output.arrayBuffer()).toString("utf8");
}

async function main() {
  const [base, token] = process.argv.slice(2);
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  // A JSON merge patch is JSON; node-wot has no codec of that name until it is told.
  ContentSerdes.get().addCodec(new JsonCodec("application/merge-patch+json"));
  servient.addCredentials({ "urn:seam:directory": { token } });
  // node-wot 0.9 hands a form-level scheme the list of a Thing's credentials where it reads one
  // credential (`{ token }`), so the list carries the token too.
  servient.retrieveCredentials("urn:seam:directory").token = token;
  const WoT = await servient.start();
  const seen = {};

  const td = await WoT.requestThingDescription(`${base}/.well-known/wot`);
  seen.description = { title: td.title, actions: Object.keys(td.actions || {}).sort(), events: Object.keys(td.events || {}).sort() };
  const directory = await WoT.consume(td);

  const id = "urn:example:node-wot:lamp";
  const lamp = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    id,
    title: "Lamp registered by node-wot",
    securityDefinitions: { nosec_sc: { scheme: "nosec" } },
    security: "nosec_sc",
    properties: { status: { type: "string", forms: [{ href: "https://lamp.example/status" }] } },
  };
  await directory.invokeAction("createThing", lamp, { uriVariables: { id } });
  const read = await (await directory.invokeAction("retrieveThing", undefined, { uriVariables: { id } })).value();
  seen.retrieved = { id: read.id, title: read.title, registration: read.registration || null };

  await directory.invokeAction("partiallyUpdateThing", { title: "Lamp renamed by node-wot" }, { uriVariables: { id } });
  const patched = await (await directory.invokeAction("retrieveThing", undefined, { uriVariables: { id } })).value();
  seen.patched = { title: patched.title };
  lamp.description = "replaced whole by node-wot";
  await directory.invokeAction("updateThing", lamp, { uriVariables: { id } });
  const replaced = await (await directory.invokeAction("retrieveThing", undefined, { uriVariables: { id } })).value();
  seen.replaced = { title: replaced.title, description: replaced.description };

  const anonymous = { ...lamp, title: "Anonymous lamp registered by node-wot" };
  delete anonymous.id;
  await directory.invokeAction("createAnonymousThing", anonymous);

  const listed = await (await directory.readProperty("things")).value();
  seen.listed = listed.map((t) => t.title).sort();

  // node-wot's own directory discovery: reads the `things` property and checks every TD.
  const discovery = await WoT.exploreDirectory(`${base}/.well-known/wot`);
  const discovered = [];
  for await (const thing of discovery) {
    discovered.push(thing.title);
  }
  seen.discovered = discovered.sort();
  seen.discoveryError = discovery.error ? String(discovery.error.message || discovery.error) : null;

  const query = `PREFIX td: <https://www.w3.org/2019/wot/td#> SELECT ?title WHERE { ?t td:title ?title } ORDER BY ?title`;
  const answer = JSON.parse(await text(await directory.invokeAction("searchSPARQL", undefined, { uriVariables: { query } })));
  seen.searched = answer.results.bindings.map((b) => b.title.value);

  await directory.invokeAction("deleteThing", undefined, { uriVariables: { id } });
  try {
    await directory.invokeAction("retrieveThing", undefined, { uriVariables: { id } });
    seen.afterDelete = "still there";
  } catch (e) {
    seen.afterDelete = String(e.message || e);
  }

  // A write with a wrong token: the directory refuses it, and the TD stays.
  const stranger = new Servient();
  stranger.addClientFactory(new HttpClientFactory());
  const strangerId = "urn:seam:directory:stranger";
  stranger.addCredentials({ [strangerId]: { token: "not-the-token" } });
  stranger.retrieveCredentials(strangerId).token = "not-the-token";
  const strangerWoT = await stranger.start();
  const strangerDirectory = await strangerWoT.consume({ ...td, id: strangerId });
  const anonymousId = (await (await directory.readProperty("things")).value())[0].id;
  try {
    await strangerDirectory.invokeAction("deleteThing", undefined, { uriVariables: { id: anonymousId } });
    seen.wrongToken = "accepted";
  } catch (e) {
    seen.wrongToken = String(e.message || e);
  }
  seen.afterWrongToken = (await (await directory.readProperty("things")).value()).map((t) => t.id);
  seen.anonymousId = anonymousId;

  console.log(JSON.stringify(seen));
  await servient.shutdown();
  await stranger.shutdown();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
