#!/usr/bin/env bash
# `npm run e2e:kind`: the end-to-end suite on a kind cluster, with real pods. Creates the
# cluster (e2e/kind/cluster.yaml), builds the image from the Dockerfile and loads it into the
# nodes, installs the chart with e2e/values.yaml, port-forwards the release's Service, runs the
# suite in kind mode (e2e/support/target.ts), and deletes the cluster on the way out, whatever
# happened.
#
# Needs docker (a running daemon), kind (0.23 or newer: the backends use the preStop sleep
# action of Kubernetes 1.30), helm 3.8+ or 4, kubectl, dig, curl and Node 24 (npm ci).
#
# Environment:
#   KONSUL_LB_KIND_CLUSTER   cluster name (default konsul-lb-e2e)
#   KONSUL_LB_KIND_IMAGE     kind node image, e.g. kindest/node:v1.33.1 (default: kind's own)
#   KONSUL_LB_KEEP_CLUSTER=1 keep the cluster afterwards (its kubeconfig path is printed)
#   KONSUL_LB_E2E_HTTP_PORT  local port of the Service's HTTP port-forward (default 18080)
#   KONSUL_LB_E2E_DNS_PORT   local port of the Service's DNS (TCP) port-forward (default 15353)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cluster="${KONSUL_LB_KIND_CLUSTER:-konsul-lb-e2e}"
image="konsul-lb:e2e"
http_port="${KONSUL_LB_E2E_HTTP_PORT:-18080}"
dns_port="${KONSUL_LB_E2E_DNS_PORT:-15353}"
keep="${KONSUL_LB_KEEP_CLUSTER:-0}"

step() { printf '[e2e:kind +%4ss] %s\n' "${SECONDS}" "$*"; }
fail() {
  printf 'e2e:kind: %s\n' "$*" >&2
  exit 1
}

for tool in docker kind helm kubectl dig curl npx; do
  command -v "${tool}" >/dev/null 2>&1 || fail "${tool} is not on PATH; see e2e/README.md for what e2e:kind needs"
done
docker info >/dev/null 2>&1 || fail "the docker daemon does not answer (docker info failed); start it, or use npm run e2e:local"
if kind get clusters 2>/dev/null | grep -qx "${cluster}"; then
  fail "a kind cluster named ${cluster} exists already; delete it (kind delete cluster --name ${cluster}) or set KONSUL_LB_KIND_CLUSTER"
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/konsul-lb-e2e-kind.XXXXXX")"
kubeconfig="${workdir}/kubeconfig"
forward_pid=""
created=0

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${forward_pid}" ]]; then
    # The port-forward loop runs as its own process group (set -m below): end it and its kubectl.
    kill -- "-${forward_pid}" 2>/dev/null || true
  fi
  if [[ "${status}" -ne 0 && "${created}" -eq 1 ]]; then
    step "failed; the release's pods and recent logs:"
    kubectl --kubeconfig "${kubeconfig}" get pods -A -o wide || true
    kubectl --kubeconfig "${kubeconfig}" -n konsul-lb logs -l app.kubernetes.io/instance=konsul-lb --tail=40 --prefix || true
  fi
  if [[ "${keep}" == "1" && "${created}" -eq 1 ]]; then
    step "kept cluster ${cluster}: export KUBECONFIG=${kubeconfig}"
  else
    if [[ "${created}" -eq 1 ]]; then
      step "deleting cluster ${cluster}"
      kind delete cluster --name "${cluster}" >/dev/null 2>&1 || true
    fi
    rm -rf "${workdir}"
  fi
  exit "${status}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "creating kind cluster ${cluster}"
created=1
kind_args=(create cluster --name "${cluster}" --config e2e/kind/cluster.yaml --kubeconfig "${kubeconfig}" --wait 180s)
if [[ -n "${KONSUL_LB_KIND_IMAGE:-}" ]]; then kind_args+=(--image "${KONSUL_LB_KIND_IMAGE}"); fi
kind "${kind_args[@]}"
export KUBECONFIG="${kubeconfig}"
kubectl get nodes -L topology.kubernetes.io/region,topology.kubernetes.io/zone

step "building ${image} from the Dockerfile"
docker build -t "${image}" .
step "loading ${image} into the nodes"
kind load docker-image "${image}" --name "${cluster}"

step "helm install konsul-lb (CRDs from the chart's crds/)"
helm install konsul-lb charts/konsul-lb \
  --namespace konsul-lb --create-namespace \
  --values e2e/values.yaml \
  --set image.repository=konsul-lb \
  --set image.tag=e2e \
  --set image.pullPolicy=Never \
  --wait --timeout 5m

step "port-forwarding service/konsul-lb: HTTP on 127.0.0.1:${http_port}, DNS (TCP) on 127.0.0.1:${dns_port}"
# A port-forward follows one pod and ends with it (the failover test deletes pods), so it is
# restarted in a loop. Job control gives the loop a process group of its own, to end it whole.
set -m
(
  while true; do
    kubectl -n konsul-lb port-forward service/konsul-lb --address 127.0.0.1 \
      "${http_port}:8080" "${dns_port}:53" >>"${workdir}/port-forward.log" 2>&1 || true
    sleep 1
  done
) &
forward_pid=$!
set +m
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:${http_port}/readyz" >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:${http_port}/readyz" >/dev/null || fail "no answer through the port-forward; see ${workdir}/port-forward.log"

step "running the suite"
KONSUL_LB_E2E_MODE=kind \
  KONSUL_LB_E2E_KUBECONFIG="${kubeconfig}" \
  KONSUL_LB_E2E_URL="http://127.0.0.1:${http_port}" \
  KONSUL_LB_E2E_DNS="127.0.0.1:${dns_port}" \
  KONSUL_LB_E2E_HELM="$(command -v helm)" \
  npx vitest run --config e2e/vitest.config.ts "$@"
step "passed"
