#!/usr/bin/env bash
# The local demo: pinned tools, the local control plane with base and spot kwok nodes, and a sample
# workload spread over the tiers. Leaves the cluster running; `npm run cluster:down` stops it.
LOG_PREFIX=demo
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bash scripts/tools.sh
npx --no-install tsx src/cli/main.ts cluster up
export KUBECONFIG="$ROOT/.run/cluster/kubeconfig"
kubectl() { "$BIN/kubectl" "$@"; }

kubectl apply -f examples/local-workload.yaml >/dev/null
kubectl rollout status deployment/sample-base -n spillway-demo --timeout=60s >/dev/null
kubectl rollout status deployment/sample-burst -n spillway-demo --timeout=60s >/dev/null
echo
kubectl get nodes -L spillway.dev/tier,spillway.dev/provider,node.kubernetes.io/instance-type
echo
kubectl get pods -n spillway-demo -o wide
echo
log "the local control plane keeps running:"
log "  export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH"
log "  npm run cluster:down    # stop it"
