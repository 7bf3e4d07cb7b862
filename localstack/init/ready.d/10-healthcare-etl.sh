#!/usr/bin/env bash
# LocalStack ready hook (docker-compose.yml mounts this directory at
# /etc/localstack/init/ready.d). It creates the one thing the healthcare-etl stack expects to
# exist before it is deployed, as it does in AWS: the Secrets Manager secret holding
# DATABASE_URL. Everything else (KMS keys and alias, the audit checkpoint bucket, the payload
# bucket, queues, state machine, functions, HTTP API) comes from `npm run deploy:local`. Then
# it says where things are.
set -euo pipefail

stage="${ETL_STAGE:-localstack}"
database_url="${ETL_DATABASE_URL:?ETL_DATABASE_URL is set by docker-compose.yml}"
secret_name="healthcare-etl/${stage}/database-url"

if awslocal secretsmanager describe-secret --secret-id "${secret_name}" >/dev/null 2>&1; then
  awslocal secretsmanager put-secret-value --secret-id "${secret_name}" \
    --secret-string "${database_url}" >/dev/null
else
  awslocal secretsmanager create-secret --name "${secret_name}" \
    --description "DATABASE_URL of the healthcare-etl ${stage} stage (compose PostgreSQL)" \
    --secret-string "${database_url}" >/dev/null
fi

cat <<MESSAGE
healthcare-etl: LocalStack is ready.
  AWS endpoint     http://localhost:4566  (region ${AWS_DEFAULT_REGION:-us-east-1}, any credentials)
  PostgreSQL       127.0.0.1:5433 from the host; postgres:5432 from the Lambdas
  Database secret  ${secret_name}
  Next             npm run deploy:local  (deploys the stack, prints the API URL and state machine)
  Executions       LocalStack web app, Step Functions: https://app.localstack.cloud/inst/default/resources/stepfunctions
MESSAGE
