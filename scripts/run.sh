#!/usr/bin/env bash
# run.sh BUILD_DIR: `make run` — the local topology, the schema, a demo tenant and key with a few people,
# conversations and messages (seeded once per topology), then ywmsgd in the
# foreground on 127.0.0.1:8080 (YW_HTTP_PORT to change it).
set -euo pipefail
build=${1:-build}
dir=${YW_CLUSTER_DIR:-var/cluster}
ywctl="$build/ywctl"

"$ywctl" cluster up --dir "$dir"
env_file="$dir/cluster.env"
"$ywctl" --config "$env_file" db migrate
"$ywctl" --config "$env_file" partitions ensure --ahead 2 >/dev/null

# One demo key per topology: made once, kept (0600) next to the topology's other secrets.
demo="$dir/demo.json"
if [ ! -s "$demo" ]; then
  umask 077
  "$ywctl" --config "$env_file" --json demo seed --name "Demo Church" --tier standard > "$demo.tmp"
  mv "$demo.tmp" "$demo"
fi
key=$(jq -r .api_key "$demo")
port=${YW_HTTP_PORT:-8080}
url="http://127.0.0.1:$port"

cat <<MSG

  ywmsgd will listen on $url
  demo tenant:  $(jq -r .tenant_name "$demo") ($(jq -r .tenant_id "$demo"))
  demo API key: $key
  admin token:  in $env_file (YW_ADMIN_TOKEN)

  Status page:  $url/status  (paste the admin token, YW_ADMIN_TOKEN in $env_file)

  Try:  curl -s $url/health | jq
        curl -s -H "X-API-Key: $key" $url/v1/users | jq
        curl -s -H "X-API-Key: $key" $url/v1/conversations | jq

  Stop with Ctrl-C; the topology keeps running (ywctl cluster down --dir $dir to stop it).

MSG
# YW_CLUSTER_DIR is this script's, not a ywmsgd setting (it would warn about it).
unset YW_CLUSTER_DIR
exec "$build/ywmsgd" --config "$env_file"
