// What GitHub shows for a JUnit file read by mikepenz/action-junit-report: the action's own
// bundle runs on the file, with its default inputs (read from its action.yml) and a stand-in
// for the GitHub API on 127.0.0.1 that records the check run it creates.
//
// Usage: node github.mjs ACTION_SRC_DIR REPORT.xml WORKSPACE [INPUT=VALUE...]
//
// ACTION_SRC_DIR is a checkout of the action (its action.yml and dist/index.js). WORKSPACE is
// the directory the action runs in ($GITHUB_WORKSPACE: the repository root).
// Prints one JSON line per annotation (path, line, level, title, message, raw_details), then
// one line {"job_summary": ...} with what the action appended to the job summary.
import {spawn} from 'node:child_process'
import {createServer} from 'node:http'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

const [actionDir, report, workspace, ...overrides] = process.argv.slice(2)
if (!actionDir || !report || !workspace) {
  console.error('usage: node github.mjs ACTION_SRC_DIR REPORT.xml WORKSPACE [INPUT=VALUE...]')
  process.exit(2)
}

// The action's inputs with their declared defaults, as the runner would pass them.
function defaultInputs(actionYml) {
  const inputs = {}
  let section = ''
  let current = null
  for (const line of actionYml.split('\n')) {
    const top = line.match(/^([a-z_]+):/)
    if (top) section = top[1]
    if (section !== 'inputs') continue
    const name = line.match(/^ {2}([a-z_]+):\s*$/)
    if (name) current = name[1]
    const value = line.match(/^ {4}default:\s*(.*)$/)
    if (current && value) {
      const text = value[1].trim().replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1')
      if (!text.startsWith('${{')) inputs[current] = text
    }
  }
  return inputs
}

const inputs = defaultInputs(readFileSync(join(actionDir, 'action.yml'), 'utf8'))
inputs.report_paths = resolve(report)
inputs.token = 'stand-in-token'
inputs.job_name = 'llmspec'
for (const o of overrides) {
  const at = o.indexOf('=')
  inputs[o.slice(0, at)] = o.slice(at + 1)
}

const checkRuns = []
const server = createServer((req, res) => {
  let body = ''
  req.on('data', chunk => (body += chunk))
  req.on('end', () => {
    if (req.method === 'POST' && /\/check-runs$/.test(req.url)) checkRuns.push(JSON.parse(body))
    res.writeHead(201, {'content-type': 'application/json'})
    res.end(JSON.stringify({id: checkRuns.length, html_url: 'http://127.0.0.1/check'}))
  })
})
await new Promise(ok => server.listen(0, '127.0.0.1', ok))
const api = `http://127.0.0.1:${server.address().port}`

const scratch = mkdtempSync(join(tmpdir(), 'action-junit-report-'))
const summaryFile = join(scratch, 'step-summary.md')
const eventFile = join(scratch, 'event.json')
writeFileSync(summaryFile, '')
writeFileSync(eventFile, '{}')
// The action targets Node 24; on an older Node, the two things its HTTP client needs from newer
// ones are supplied: a marker with no effect here, and Promise.withResolvers.
const shim = join(scratch, 'node24-shim.cjs')
writeFileSync(
  shim,
  "const w = require('node:worker_threads'); w.markAsUncloneable ??= () => {};\n" +
    'Promise.withResolvers ??= () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b }); return {promise, resolve, reject} };\n'
)
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  GITHUB_API_URL: api,
  GITHUB_SERVER_URL: 'http://127.0.0.1',
  GITHUB_REPOSITORY: 'llmspec/llmspec',
  GITHUB_SHA: '0000000000000000000000000000000000000000',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_EVENT_NAME: 'push',
  GITHUB_EVENT_PATH: eventFile,
  GITHUB_WORKSPACE: resolve(workspace),
  GITHUB_STEP_SUMMARY: summaryFile,
  GITHUB_ACTIONS: 'true',
  NO_PROXY: '127.0.0.1'
}
for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v

const child = spawn(process.execPath, ['--require', shim, join(resolve(actionDir), 'dist/index.js')], {
  cwd: resolve(workspace),
  env,
  stdio: ['ignore', 'pipe', 'inherit']
})
let log = ''
child.stdout.on('data', chunk => (log += chunk))
const timer = setTimeout(() => child.kill(), 60000)
const code = await new Promise(ok => child.on('close', ok))
clearTimeout(timer)
server.close()
if (code !== 0) {
  process.stderr.write(log)
  console.error(`the action exited with ${code}`)
  process.exit(1)
}
for (const run of checkRuns) {
  for (const a of run.output.annotations) {
    console.log(
      JSON.stringify({
        check: run.name,
        path: a.path,
        line: a.start_line,
        level: a.annotation_level,
        title: a.title,
        message: a.message,
        raw_details: a.raw_details
      })
    )
  }
}
// Workflow commands the action printed (warnings about the report itself).
for (const line of log.split('\n').filter(l => /^::(error|warning)/.test(l))) console.log(JSON.stringify({log: line}))
console.log(JSON.stringify({job_summary: readFileSync(summaryFile, 'utf8')}))
