'use strict';

/**
 * serverless-esbuild for `osls package` and `osls deploy` only: its offline hooks are dropped,
 * so `npm start` (osls offline) keeps running the TypeScript sources as they are, unbundled.
 */
const EsbuildServerlessPlugin = require('serverless-esbuild');

class EsbuildOnDeploy extends EsbuildServerlessPlugin {
  constructor(serverless, options, logging) {
    super(serverless, options, logging);
    for (const hook of Object.keys(this.hooks)) {
      if (hook.startsWith('before:offline:')) delete this.hooks[hook];
    }
  }
}

module.exports = EsbuildOnDeploy;
