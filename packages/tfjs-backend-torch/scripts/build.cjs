'use strict';
// Builds the addon at install time against the system's libtorch (Debian: libtorch-dev). When the headers,
// the libraries or a C++ compiler are missing, or the build fails, it says so in one line and exits non-zero:
// npm then drops this optional dependency and the project runs on its other backends.
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { dirname, join } = require('node:path');

const include = process.env.TORCH_INCLUDE || '/usr/include';
const lib = process.env.TORCH_LIB || '/usr/lib/x86_64-linux-gnu';

function skip(reason) {
  console.error(`tfjs-backend-torch: not built (${reason}); the torch backend is unavailable, other backends still work`);
  process.exit(1);
}

if (process.platform !== 'linux') skip(`platform ${process.platform}: only Linux with Debian's libtorch-dev is supported`);
if (!existsSync(join(include, 'ATen', 'ATen.h'))) skip(`no libtorch headers at ${join(include, 'ATen')}: apt-get install libtorch-dev`);
if (!existsSync(join(lib, 'libtorch_cpu.so'))) skip(`no libtorch_cpu.so in ${lib}: apt-get install libtorch-dev`);
const cxx = process.env.CXX || 'g++';
if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C++ compiler (${cxx})`);

// npm runs install scripts with its bundled node-gyp named in npm_config_node_gyp; run by hand, the node-gyp
// bundled with the npm beside this node, else one on PATH.
const bundled = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : null);
const gypArgs = ['rebuild'];
// Node's own headers: node-gyp would download them from nodejs.org unless told where the installed ones are.
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) gypArgs.push(`--nodedir=${prefix}`);
const [cmd, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ['node-gyp', gypArgs];
const verbose = Boolean(process.env.TFJS_TORCH_BUILD_VERBOSE);
const r = spawnSync(cmd, args, { cwd: join(__dirname, '..'), stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8' });
if (r.status !== 0) {
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const firstError = out.split('\n').find((l) => /error:|ERR! stack Error/.test(l)) ?? (r.error ? String(r.error.message) : 'unknown error');
  skip(`build failed: ${firstError.trim().slice(0, 200)}; set TFJS_TORCH_BUILD_VERBOSE=1 for the full log`);
}
console.log('tfjs-backend-torch: built against libtorch');
