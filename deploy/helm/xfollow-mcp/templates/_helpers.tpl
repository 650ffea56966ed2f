{{/* The chart's name. */}}
{{- define "xfollow-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's objects' name. */}}
{{- define "xfollow-mcp.fullname" -}}
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

{{- define "xfollow-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "xfollow-mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xfollow-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "xfollow-mcp.labels" -}}
helm.sh/chart: {{ include "xfollow-mcp.chart" . }}
{{ include "xfollow-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "xfollow-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "xfollow-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "xfollow-mcp.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "xfollow-mcp.hasState" -}}
{{- if or .Values.state.url .Values.state.existingSecret }}true{{ end }}
{{- end }}

{{/*
The settings the server would refuse at start, refused at render time with
the same reasons.
*/}}
{{- define "xfollow-mcp.validate" -}}
{{- $state := include "xfollow-mcp.hasState" . }}
{{- if and (gt (int .Values.replicaCount) 1) (not $state) }}
{{- fail "replicaCount above 1 needs a state store (state.url or state.existingSecret): without one each replica keeps an unfollow budget of its own, so a caller could unfollow replicaCount times the limit" }}
{{- end }}
{{- if and .Values.state.url .Values.state.existingSecret }}
{{- fail "give state.url or state.existingSecret, not both" }}
{{- end }}
{{- if and .Values.state.url (regexMatch "^rediss?://[^/]*:[^/@]*@" .Values.state.url) }}
{{- fail "state.url holds a password: put the whole URL in a Secret and name it in state.existingSecret" }}
{{- end }}
{{- if and .Values.config.confirm $state (not .Values.secret.existingSecret) }}
{{- fail "config.confirm with a state store needs XFOLLOW_SECRET (secret.existingSecret): without it each replica signs approvals with a secret of its own, so an approval answered through another replica is ignored" }}
{{- end }}
{{- if not (has .Values.auth.mode (list "keyFromRequest" "token")) }}
{{- fail "auth.mode is keyFromRequest or token" }}
{{- end }}
{{- if and (eq .Values.auth.mode "token") (not .Values.auth.existingSecret) }}
{{- fail "auth.mode token needs auth.existingSecret: the Secret with the AIsa key (auth.apiKeyKey) and the bearer token (auth.tokenKey)" }}
{{- end }}
{{- if and (eq .Values.auth.mode "keyFromRequest") .Values.config.account }}
{{- fail "config.account names one X account, but with auth.mode keyFromRequest each caller brings their own: leave config.account empty" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- end }}
