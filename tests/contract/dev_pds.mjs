// A local AT Protocol network for test_bluesky_pds.py: the reference PDS, PLC directory and AppView of
// @atproto/dev-env (pinned in package.json), on free ports, with two accounts that each have an app
// password. Prints one line `READY {json}` when it can be used; a POST to the control URL waits until
// the AppView has indexed everything the PDS has written. Stops on SIGTERM or when stdin closes.
// Needs DB_POSTGRES_URL (an empty database: the AppView's), REDIS_HOST, and Node.js 22 or later.
import http from 'node:http'
import { TestNetwork } from '@atproto/dev-env'

const network = await TestNetwork.create({
  dbPostgresUrl: process.env.DB_POSTGRES_URL,
  dbPostgresSchema: 'growthloop',
})
const seed = network.getSeedClient()
const accounts = {}
for (const name of ['alice', 'bob']) {
  await seed.createAccount(name, {
    handle: `${name}.test`,
    email: `${name}@example.com`,
    password: `${name}-main-password`,
  })
  const did = seed.dids[name]
  const res = await fetch(`${network.pds.url}/xrpc/com.atproto.server.createAppPassword`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${seed.accounts[did].accessJwt}` },
    body: JSON.stringify({ name: 'growthloop' }),
  })
  const body = await res.json()
  accounts[name] = { handle: `${name}.test`, did, appPassword: body.password }
}
await network.processAll()

const control = http.createServer(async (req, res) => {
  try {
    await network.processAll()
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  } catch (e) {
    res.writeHead(500).end(String(e))
  }
})
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  control.close()
  await network.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
control.listen(0, '127.0.0.1', () => {
  const ready = { pds: network.pds.url, control: `http://127.0.0.1:${control.address().port}`, accounts }
  console.log('READY ' + JSON.stringify(ready))
})
