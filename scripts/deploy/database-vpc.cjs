'use strict';

/**
 * `vpc:` of the functions that reach PostgreSQL (serverless.yml, `${self:custom.databaseVpc}`):
 * the stage parameters databaseSubnetIds and databaseSecurityGroupIds, comma-separated or
 * lists. Both empty: `false`, no VPC (LocalStack; a database reachable without one).
 */

function ids(value) {
  const items = Array.isArray(value) ? value : String(value ?? '').split(',');
  return items.map((id) => String(id).trim()).filter((id) => id !== '');
}

module.exports = async ({ resolveVariable }) => {
  const subnetIds = ids(await resolveVariable('param:databaseSubnetIds'));
  const securityGroupIds = ids(await resolveVariable('param:databaseSecurityGroupIds'));
  if (subnetIds.length === 0 && securityGroupIds.length === 0) return false;
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new Error(
      'databaseSubnetIds and databaseSecurityGroupIds go together: set both (the RDS Proxy subnets and a security group it admits) or neither',
    );
  }
  return { subnetIds, securityGroupIds };
};
