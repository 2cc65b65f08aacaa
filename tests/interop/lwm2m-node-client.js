// An independent LwM2M 1.0 client (lwm2m-node-lib, Telefónica's IoT agent library, on the
// node `coap` package) registering with SEAM. Usage:
//   node lwm2m-node-client.js HOST PORT ENDPOINT SECONDS
// Registers with Objects 3 (Device), 5 (Firmware Update) and 3303 (temperature), stays
// registered SECONDS seconds, answers reads, takes a package by Package URI (downloaded
// block-wise by the node `coap` agent, SHA-256 checked against the digest the URI names), then
// de-registers. Prints one line per event for the test to follow.
'use strict';

const path = require('path');
const modules = process.env.SEAM_NODE_MODULES || path.join(__dirname, 'node_modules');
const lib = require(path.join(modules, 'lwm2m-node-lib'));
const coap = require(path.join(modules, 'coap'));
const crypto = require('crypto');
const client = lib.client;

const [host, port, endpoint, seconds] = process.argv.slice(2);
const config = {
    logLevel: 'FATAL',
    client: {
        lifetime: '60',
        version: '1.0',
        logLevel: 'FATAL',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text',
    },
};

function fail(step, error) {
    console.log(`error ${step}: ${error}`);
    process.exit(1);
}

client.init(config);
const resources = [
    ['/3/0', '0', 'Nordic Semiconductor'],
    ['/3/0', '1', 'nrf52840dk_nrf52840'],
    ['/3/0', '2', 'NODE-0001'],
    ['/3/0', '3', '2.0.0-node'],
    ['/3/0', '10', '300'],
    ['/3303/0', '5700', '22.5'],
    ['/5/0', '1', ''],
    ['/5/0', '3', '0'],
    ['/5/0', '5', '0'],
];
client.registry.create('/3/0', (e1) => {
    if (e1) fail('create /3/0', e1);
    client.registry.create('/3303/0', (e2) => {
        if (e2) fail('create /3303/0', e2);
        client.registry.create('/5/0', (e5) => { if (e5) fail('create /5/0', e5); });
        let pending = resources.length;
        for (const [uri, id, value] of resources) {
            client.registry.setResource(uri, id, value, (e3) => {
                if (e3) fail(`set ${uri}/${id}`, e3);
                if (--pending === 0) register();
            });
        }
    });
});

function register() {
    client.register(host, port, '', endpoint, (error, deviceInfo) => {
        if (error) fail('register', error);
        console.log(`registered ${deviceInfo.location}`);
        client.setHandler(deviceInfo.serverInfo, 'read', (objectType, objectId, resourceId, value, callback) => {
            console.log(`read /${objectType}/${objectId}/${resourceId}`);
            callback(null, value);
        });
        client.setHandler(deviceInfo.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
            console.log(`write /${objectType}/${objectId}/${resourceId}`);
            callback(null);
            if (String(objectType) === '5' && String(resourceId) === '1') download(String(value));
        });
        client.setHandler(deviceInfo.serverInfo, 'execute', (objectType, objectId, resourceId, args, callback) => {
            console.log(`execute /${objectType}/${objectId}/${resourceId}`);
            callback(null);
            if (String(objectType) === '5' && String(resourceId) === '2') install();
        });
        setTimeout(() => {
            client.unregister(deviceInfo, (e) => {
                if (e) fail('unregister', e);
                console.log('deregistered');
                process.exit(0);
            });
        }, Number(seconds) * 1000);
    });
}

let staged = null;

function setState(state, result, then) {
    client.registry.setResource('/5/0', '5', String(result), () =>
        client.registry.setResource('/5/0', '3', String(state), () => then && then()));
}

// Object 5: Downloading (1) → Downloaded (2), or back to Idle (0) with Update Result 5
// (integrity check failure) or 7 (invalid URI).
function download(uri) {
    const match = /^coap:\/\/([^/:]+):(\d+)(\/.*\/([0-9a-f]{64}))$/.exec(uri);
    if (!match) return setState(0, 7);
    const [, host, port, pathname, digest] = match;
    setState(1, 0, () => {
        const req = coap.request({ host, port: Number(port), pathname, method: 'GET' });
        const chunks = [];
        req.on('response', (res) => {
            res.on('data', (chunk) => chunks.push(chunk));
            res.on('end', () => {
                const body = Buffer.concat(chunks);
                const sha = crypto.createHash('sha256').update(body).digest('hex');
                console.log(`downloaded ${body.length} bytes sha256 ${sha}`);
                if (sha !== digest) return setState(0, 5);
                staged = sha;
                setState(2, 0);
            });
        });
        req.on('error', (e) => { console.log(`download error ${e}`); setState(0, 4); });
        req.end();
    });
}

// Updating (3), then Idle (0) with Update Result 1 (success).
function install() {
    if (!staged) return;
    setState(3, 0, () => {
        console.log(`installed ${staged}`);
        staged = null;
        setState(0, 1);
    });
}
