{{/* The chart's name. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: release-chart, at most 63 characters. */}}
{{- define "sluice.fullname" -}}
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

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The chart's own Secret (database URL, S3 keys, API token, Temporal API key). */}}
{{- define "sluice.secretName" -}}
{{- printf "%s-secrets" (include "sluice.fullname" .) }}
{{- end }}

{{/* Where the database URL comes from: secret name and key. */}}
{{- define "sluice.databaseSecret" -}}
{{- if .Values.postgresql.existingSecret -}}
name: {{ .Values.postgresql.existingSecret }}
key: {{ .Values.postgresql.existingSecretKey }}
{{- else -}}
name: {{ include "sluice.secretName" . }}
key: database-url
{{- end }}
{{- end }}

{{- define "sluice.apiTokenSecret" -}}
{{- if .Values.apiToken.existingSecret -}}
name: {{ .Values.apiToken.existingSecret }}
key: {{ .Values.apiToken.existingSecretKey }}
{{- else -}}
name: {{ include "sluice.secretName" . }}
key: api-token
{{- end }}
{{- end }}

{{- define "sluice.temporalAPIKeySecret" -}}
{{- if .Values.temporal.apiKey.existingSecret -}}
name: {{ .Values.temporal.apiKey.existingSecret }}
key: {{ .Values.temporal.apiKey.existingSecretKey }}
{{- else -}}
name: {{ include "sluice.secretName" . }}
key: temporal-api-key
{{- end }}
{{- end }}

{{- define "sluice.hasTemporalAPIKey" -}}
{{- if or .Values.temporal.apiKey.value .Values.temporal.apiKey.existingSecret }}true{{ end }}
{{- end }}

{{- define "sluice.hasS3Keys" -}}
{{- if or .Values.lake.s3.existingSecret (and .Values.lake.s3.accessKeyId .Values.lake.s3.secretAccessKey) }}true{{ end }}
{{- end }}

{{/* The settings every Sluice process reads from its environment. */}}
{{- define "sluice.env" -}}
- name: SLUICE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: SLUICE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "sluice.databaseSecret" . | nindent 6 }}
- name: SLUICE_TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: SLUICE_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.tls.enabled }}
- name: SLUICE_TEMPORAL_TLS
  value: "true"
{{- end }}
{{- with .Values.temporal.tls.serverName }}
- name: SLUICE_TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.tls.existingSecret }}
- name: SLUICE_TEMPORAL_TLS_CERT
  value: /etc/sluice/temporal-tls/tls.crt
- name: SLUICE_TEMPORAL_TLS_KEY
  value: /etc/sluice/temporal-tls/tls.key
- name: SLUICE_TEMPORAL_TLS_CA
  value: /etc/sluice/temporal-tls/ca.crt
{{- end }}
{{- if include "sluice.hasTemporalAPIKey" . }}
- name: SLUICE_TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      {{- include "sluice.temporalAPIKeySecret" . | nindent 6 }}
{{- end }}
- name: SLUICE_LAKE
  value: {{ .Values.lake.url | quote }}
{{- with .Values.lake.s3.endpoint }}
- name: SLUICE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: SLUICE_S3_PATH_STYLE
  value: {{ .Values.lake.s3.pathStyle | quote }}
- name: AWS_REGION
  value: {{ .Values.lake.s3.region | quote }}
{{- if include "sluice.hasS3Keys" . }}
{{- $s3 := default (include "sluice.secretName" .) .Values.lake.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s3 }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s3 }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes of every Sluice pod: /tmp, and the Temporal client certificate. */}}
{{- define "sluice.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "sluice.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/sluice/temporal-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod spec fields shared by every Sluice pod. */}}
{{- define "sluice.podCommon" -}}
serviceAccountName: {{ include "sluice.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
volumes:
  {{- include "sluice.volumes" . | nindent 2 }}
{{- end }}

{{/* Checks that fail the render with a message that says what to set. */}}
{{- define "sluice.validate" -}}
{{- if not (or .Values.postgresql.url .Values.postgresql.existingSecret) }}
{{- fail "set postgresql.url or postgresql.existingSecret: Sluice keeps its registry, runs and online store in PostgreSQL" }}
{{- end }}
{{- if not (hasPrefix "s3://" .Values.lake.url) }}
{{- fail (printf "lake.url must be s3://bucket/prefix on Kubernetes, got %q" .Values.lake.url) }}
{{- end }}
{{- if and .Values.lake.s3.accessKeyId (not .Values.lake.s3.secretAccessKey) }}
{{- fail "lake.s3.accessKeyId is set without lake.s3.secretAccessKey" }}
{{- end }}
{{- range $name, $w := .Values.workers }}
{{- if $w.enabled }}
{{- if not $w.queues }}
{{- fail (printf "workers.%s.queues is empty" $name) }}
{{- end }}
{{- range $w.queues }}
{{- if not (has . (list "control" "io" "cpu" "gpu")) }}
{{- fail (printf "workers.%s.queues: %q is not a queue (control, io, cpu, gpu)" $name .) }}
{{- end }}
{{- end }}
{{- if and (has "gpu" $w.queues) (lt (int $w.gpus) 1) }}
{{- fail (printf "workers.%s polls the gpu queue with gpus: %v; set gpus to the GPUs per pod" $name $w.gpus) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
