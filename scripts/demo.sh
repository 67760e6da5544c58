#!/usr/bin/env bash
# The local demo: pinned tools; the local control plane with base and spot kwok nodes; the Helm chart
# (CRDs, RBAC, operator Deployment); the operator; a sample InferenceModel served on base nodes.
# Leaves everything running; `npm run cluster:down` stops it.
LOG_PREFIX=demo
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bash scripts/tools.sh
npx --no-install tsx src/cli/main.ts cluster up
export KUBECONFIG="$ROOT/.run/cluster/kubeconfig"
kubectl() { "$BIN/kubectl" "$@"; }

log "installing the chart into spillway-system"
"$BIN/helm" upgrade --install spillway charts/spillway -n spillway-system --create-namespace --wait --timeout 60s >/dev/null

# kwok simulates the chart's operator pods (no container runs on a kwok node), so the operator itself
# runs here, as a process, with the chart's leader election settings. It serves the demo's namespace
# only, so the test tiers' own operators (`npm test` after the demo) have their namespaces to themselves.
STATE="$ROOT/.run/cluster"
mkdir -p "$STATE/pids" "$STATE/logs"
if ! { [[ -f "$STATE/pids/operator.pid" ]] && kill -0 "$(cat "$STATE/pids/operator.pid")" 2>/dev/null; }; then
  # No cloud here: the AWS driver talks to the local emulator's address (`npm run emulators:up`) and the
  # GCP driver is off, so nothing the demo does leaves the machine.
  cat >"$STATE/operator.yaml" <<'EOF'
namespaces: [default]
leaderElection: {namespace: spillway-system}
probePort: 18081
probeHost: 127.0.0.1
pools: {aws: {endpoint: "http://127.0.0.1:4566"}, gcp: {enabled: false}}
EOF
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true METADATA_SERVER_DETECTION=none \
    nohup node --import tsx src/operator/main.ts --config "$STATE/operator.yaml" --identity demo \
    >"$STATE/logs/operator.log" 2>&1 &
  echo $! >"$STATE/pids/operator.pid"
fi
wait_for "operator probes" 30 curl -sf http://127.0.0.1:18081/healthz || die "the operator did not start" "see $STATE/logs/operator.log"

kubectl apply -f charts/spillway/examples/burst-pools.yaml -f charts/spillway/examples/chat-small.yaml >/dev/null
kubectl wait --for=condition=Ready inferencemodel/chat-small -n default --timeout=60s >/dev/null ||
  die "chat-small did not become Ready" "kubectl describe im chat-small; see $STATE/logs/operator.log"
echo
kubectl get nodes -L spillway.dev/tier,spillway.dev/provider,node.kubernetes.io/instance-type
echo
kubectl get burstpools
echo
kubectl get inferencemodels -A
echo
kubectl get deploy,svc,pdb,pods -n default -l spillway.dev/model=chat-small -o wide
echo
log "running: control plane, chart and operator (log: $STATE/logs/operator.log, metrics: http://127.0.0.1:18081/metrics)"
log "  export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH"
log "  kubectl get im -A; kubectl describe im chat-small"
log "  npm run cluster:down    # stop everything"
