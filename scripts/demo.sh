#!/usr/bin/env bash
# The local demo: pinned tools; the inference image; the S3 and GCS emulators; the local control plane with
# its real node and simulated (kwok) base and spot nodes; the Helm chart, whose operator runs on the real
# node; a sample InferenceModel fetched from the emulated S3 bucket and served on the real node; one chat
# completion through the model's Service; then the spill-over: a short load above the base's slots, a spot
# instance that boots as a real node, a burst replica there answering its share, and the drain back to the
# base. Leaves everything running; `npm run cluster:down` and `npm run emulators:down` stop it.
LOG_PREFIX=demo
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

bash scripts/tools.sh
bash scripts/image.sh
npx --no-install tsx testbed/main.ts emulators up
npx --no-install tsx testbed/main.ts cluster up
export KUBECONFIG="$ROOT/.run/cluster/kubeconfig"
kubectl() { "$BIN/kubectl" "$@"; }
STATE="$ROOT/.run/cluster"
if [[ -f "$STATE/node-unavailable" ]]; then
  die "the demo serves its model on the local cluster's real node, which is not running: $(cat "$STATE/node-unavailable")" \
    "fix the cause above and run \`npm run cluster:down && npm run demo\`; the kwok-only tiers (\`npm test\`) work without it"
fi

# The model lives in the emulated S3 bucket, as it would in a real one; pods reach the emulator through
# the bridge (testbed/cluster/network.ts), with test credentials it accepts.
eval "$(npx --no-install tsx testbed/cluster/sample-model.ts)"
log "sample model $MODEL_URI (sha256 ${MODEL_SHA256:0:12}…)"


log "installing the chart into spillway-system (its operator runs on the real node)"
kubectl create namespace spillway-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create secret generic spillway-aws -n spillway-system --dry-run=client -o yaml \
  --from-literal=AWS_ACCESS_KEY_ID=test --from-literal=AWS_SECRET_ACCESS_KEY=test | kubectl apply -f - >/dev/null
# The operator serves the demo's namespace only, so the test tiers' own operators (`npm test` after the
# demo) have their namespaces to themselves; it looks at load and pools every 2 s and keeps an empty spot
# node 10 s, so the spill-over step shows in a minute what takes a few in production.
"$BIN/helm" upgrade --install spillway charts/spillway -n spillway-system --wait --timeout 120s \
  --set 'operator.namespaces={default}' --set cloud.aws.endpoint="$POD_AWS_ENDPOINT" \
  --set cloud.aws.credentialsSecret=spillway-aws --set cloud.gcp.enabled=false \
  --set operator.load.intervalSeconds=2 --set operator.pools.intervalSeconds=2 \
  --set operator.pools.emptyNodeCooldownSeconds=10 >/dev/null ||
  die "the chart's operator did not become ready" "kubectl -n spillway-system describe pods; kubectl -n spillway-system logs deploy/spillway-operator"

kubectl apply -f charts/spillway/examples/burst-pools.yaml >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: spillway.dev/v1alpha1
kind: InferenceModel
metadata:
  name: chat-small
  namespace: default
spec:
  model:
    uri: $MODEL_URI
    sha256: $MODEL_SHA256
    contextSize: 512
  server:
    parallel: 2
    resources:
      requests: { cpu: 250m, memory: 256Mi }
      limits: { memory: 1Gi }
    env:
      - { name: AWS_ENDPOINT_URL, value: "$POD_AWS_ENDPOINT" }
      - { name: AWS_REGION, value: eu-central-1 }
      - { name: AWS_ACCESS_KEY_ID, value: test }
      - { name: AWS_SECRET_ACCESS_KEY, value: test }
  replicas:
    base: { min: 1, max: 1 }
EOF
kubectl wait --for=condition=Ready inferencemodel/chat-small -n default --timeout=180s >/dev/null ||
  die "chat-small did not become Ready" "kubectl describe im chat-small; kubectl logs -l spillway.dev/model=chat-small"
echo
kubectl get nodes -L spillway.dev/tier,spillway.dev/provider,node.kubernetes.io/instance-type
echo
kubectl get burstpools
echo
kubectl get inferencemodels -A
echo
kubectl get pods -n spillway-system -o wide
kubectl get deploy,svc,pdb,pods -n default -l spillway.dev/model=chat-small -o wide
echo
IP="$(kubectl get svc chat-small -n default -o jsonpath='{.spec.clusterIP}')"
log "a chat completion through the Service's ClusterIP, http://$IP:8080"
# A pod can be Ready a moment before kube-proxy has written the Service's rules: retry refused connections.
curl -sS --fail-with-body -m 60 --retry 20 --retry-delay 1 --retry-connrefused \
  "http://$IP:8080/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"chat-small","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}' ||
  die "the chat completion failed" "kubectl logs -l spillway.dev/model=chat-small"
echo
echo
# The spill-over, for real: a spot instance of the emulated group boots as a real node (its own kubelet,
# containerd and network namespace), and the burst replica there answers a share of the load.
log "spill-over: the instances of an emulated Auto Scaling group become real spot nodes"
npx --no-install tsx testbed/main.ts cluster spot-nodes up
npx --no-install tsx testbed/demo-spill-over.ts ||
  die "the spill-over step failed" "see .run/cluster/logs/spot-nodes.log and kubectl describe im chat-small"
echo
log "running: control plane, real node, spot nodes, emulators, chart and operator"
log "  export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH"
log "  kubectl get im -A; kubectl describe im chat-small; kubectl logs -n spillway-system deploy/spillway-operator"
log "  npm run cluster:down && npm run emulators:down    # stop everything"
