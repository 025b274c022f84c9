{{/* The chart name, or nameOverride. */}}
{{- define "konsul-lb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name when it contains the chart
name ("konsul-lb" → "konsul-lb"), else "<release>-<chart>". 63 characters at most (a DNS label).
*/}}
{{- define "konsul-lb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "konsul-lb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that pick this release's pods; never change them on upgrade (selectors are immutable). */}}
{{- define "konsul-lb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "konsul-lb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "konsul-lb.labels" -}}
helm.sh/chart: {{ include "konsul-lb.chart" . }}
{{ include "konsul-lb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | replace "+" "_" | replace "@" "_" | replace ":" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: konsul-lb
{{- end }}

{{- define "konsul-lb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "konsul-lb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is set (the tag is then ignored), else repository:tag. */}}
{{- define "konsul-lb.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Milliseconds of a duration written as integer parts with units h, m, s and ms ("1m30s", "500ms");
the schema admits only that form for the lease timings. "ms" comes first in the alternation so
that it is not read as minutes.
*/}}
{{- define "konsul-lb.milliseconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" . -1 }}
{{- $count := regexFind "^[0-9]+" . | atoi }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- $scale := get (dict "h" 3600000 "m" 60000 "s" 1000 "ms" 1) $unit }}
{{- $total = add $total (mul $count $scale) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
What the operator would refuse at start, refused at install instead: the same rules as
src/ha/leader-election.ts validateTimings, and the replica count that needs an election.
*/}}
{{- define "konsul-lb.validate" -}}
{{- $le := .Values.leaderElection }}
{{- $lease := include "konsul-lb.milliseconds" $le.leaseDuration | atoi }}
{{- $renew := include "konsul-lb.milliseconds" $le.renewDeadline | atoi }}
{{- $retry := include "konsul-lb.milliseconds" $le.retryPeriod | atoi }}
{{- if and (gt (int .Values.replicaCount) 1) (not $le.enabled) }}
{{- fail (printf "replicaCount %d needs leaderElection.enabled=true: without an election every replica would write policy status and balancer state; set replicaCount to 1 or enable leader election" (int .Values.replicaCount)) }}
{{- end }}
{{- if le $retry 0 }}
{{- fail (printf "leaderElection.retryPeriod %q is not allowed; expected a duration above 0 such as 2s" $le.retryPeriod) }}
{{- end }}
{{- if ne (mod $lease 1000) 0 }}
{{- fail (printf "leaderElection.leaseDuration %q is not allowed; expected whole seconds (Leases count in seconds), such as 15s" $le.leaseDuration) }}
{{- end }}
{{- if le $lease $renew }}
{{- fail (printf "leaderElection.leaseDuration %q must be longer than leaderElection.renewDeadline %q, or a new leader could start before the old one stops" $le.leaseDuration $le.renewDeadline) }}
{{- end }}
{{- if le $renew $retry }}
{{- fail (printf "leaderElection.renewDeadline %q must be longer than leaderElection.retryPeriod %q, or one failed renew would end leadership" $le.renewDeadline $le.retryPeriod) }}
{{- end }}
{{- /* The grace period runs from the preStop sleep on; then a leader's stop: last snapshot
(2 s at most), a renew in flight, the release. */}}
{{- $sleep := int .Values.preStopSleepSeconds }}
{{- $stopMs := add (mul $sleep 1000) 2000 $renew $retry }}
{{- $needed := div (add $stopMs 999) 1000 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds %d is too short; expected at least %d: preStopSleepSeconds %d, then a leader's graceful stop takes up to 2s (last snapshot) + renewDeadline %s + retryPeriod %s" (int .Values.terminationGracePeriodSeconds) (int $needed) $sleep $le.renewDeadline $le.retryPeriod) }}
{{- end }}
{{- end }}

{{/* config.yaml of `konsul-lb serve --config`; see `konsul-lb serve --help`, "Config file". */}}
{{- define "konsul-lb.config" -}}
{{- $op := .Values.operator }}
{{- $config := dict "httpAddr" "0.0.0.0:8080" "logLevel" $op.logLevel "trustProxy" $op.trustProxy "defaultStrategy" $op.defaultStrategy "healthFilter" $op.healthFilter }}
{{- $_ := set $config "maxConnections" (int $op.maxConnections) }}
{{- $_ := set $config "maxConnectionsPerService" (int $op.maxConnectionsPerService) }}
{{- $_ := set $config "maxBlockingWaiters" (int $op.maxBlockingWaiters) }}
{{- $_ := set $config "tableBuildWorkers" (int $op.tableBuildWorkers) }}
{{- with $op.strategies }}
{{- $_ := set $config "strategies" . }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
{{- $_ := set $config "internalAddr" (printf "0.0.0.0:%d" (int .Values.internalApi.port)) }}
{{- end }}
{{- if .Values.dns.enabled }}
{{- $_ := set $config "dnsAddr" "0.0.0.0:5353" }}
{{- $_ := set $config "dnsDomain" .Values.dns.domain }}
{{- $_ := set $config "dnsTtl" .Values.dns.ttl }}
{{- $_ := set $config "dnsMaxAnswers" (int .Values.dns.maxAnswers) }}
{{- end }}
{{- if .Values.xds.enabled }}
{{- $_ := set $config "xdsAddr" "0.0.0.0:18000" }}
{{- end }}
{{- toYaml $config }}
{{- end }}
