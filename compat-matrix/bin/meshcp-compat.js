#!/usr/bin/env node
// The compat matrix's own entry point; `meshcp compat …` runs this file (the control
// plane does not import compat-matrix: the dependency goes the other way).
// Control-plane logs default to warnings here: a matrix run starts dozens of planes.
process.env.MESHCP_LOG_LEVEL ??= 'warn';
const { main } = await import('../dist/cli.js');
// Exit at once: idle keep-alive sockets (fetch, http.Agent) would hold the process for seconds.
process.exit(await main(process.argv.slice(2)));
