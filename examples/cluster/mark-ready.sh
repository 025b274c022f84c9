#!/usr/bin/env bash
# Marks every pod of a namespace Running and Ready with an IP, as a kubelet would: for clusters
# without kubelets, such as the local control plane of `npm run cluster:up`.
set -euo pipefail
namespace="${1:?usage: mark-ready.sh NAMESPACE}"
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
i=10
for pod in $(kubectl -n "$namespace" get pods -o name); do
  i=$((i + 1))
  kubectl -n "$namespace" patch "$pod" --subresource=status --type=merge -p "{\"status\":{
    \"phase\":\"Running\",\"podIP\":\"10.244.0.$i\",\"podIPs\":[{\"ip\":\"10.244.0.$i\"}],\"startTime\":\"$now\",
    \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$now\"},
                    {\"type\":\"ContainersReady\",\"status\":\"True\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
  echo "$pod ready at 10.244.0.$i"
done
