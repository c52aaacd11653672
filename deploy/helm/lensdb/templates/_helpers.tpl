{{/*
Names, labels, images and the pod pieces that every LensDB component shares.
*/}}

{{- define "lensdb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name (at most 63 characters; the usual Helm convention). */}}
{{- define "lensdb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>[-<runId>], at most 63 characters. */}}
{{- define "lensdb.componentName" -}}
{{- $root := .root -}}
{{- $name := printf "%s-%s" (include "lensdb.fullname" $root) .component -}}
{{- if .runId -}}
{{- $name = printf "%s-%s" $name .runId -}}
{{- end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lensdb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lensdb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lensdb.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lensdb.labels" -}}
helm.sh/chart: {{ include "lensdb.chart" .root }}
{{ include "lensdb.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: lensdb
{{- end -}}

{{- define "lensdb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lensdb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image of a component: the CUDA variant (tag + cudaTagSuffix) when it asks for GPUs. */}}
{{- define "lensdb.image" -}}
{{- $img := .root.Values.image -}}
{{- $tag := default .root.Chart.AppVersion $img.tag -}}
{{- if gt (int .values.gpus) 0 -}}
{{- $tag = printf "%s%s" $tag $img.cudaTagSuffix -}}
{{- end -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------------------
Dependency wiring. The names below are those the upstream charts give their client Services:
  milvus (zilliztech/milvus-helm):  Service "milvus.fullname", port service.port (19530); in cluster mode it
                                    selects the proxy pods, in standalone mode the standalone pod.
  postgresql (bitnami):             primary Service "common.names.fullname" (architecture standalone), port
                                    primary.service.ports.postgresql (5432); generated Secret of the same name.
Both fullnames follow Helm's convention: fullnameOverride, else <release>-<nameOverride or chart name>,
else just <release> when the release name already contains the chart name.
--------------------------------------------------------------------------------------------------------- */}}
{{- define "lensdb.subchartFullname" -}}
{{- $values := .values | default dict -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .chart $values.nameOverride -}}
{{- if contains $name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lensdb.milvus.uri" -}}
{{- if .Values.milvus.enabled -}}
{{- $host := include "lensdb.subchartFullname" (dict "root" . "chart" "milvus" "values" .Values.milvus) -}}
{{- $port := dig "service" "port" 19530 .Values.milvus -}}
{{- printf "http://%s:%v" $host $port -}}
{{- else -}}
{{- required "externalMilvus.uri is required when milvus.enabled is false" .Values.externalMilvus.uri -}}
{{- end -}}
{{- end -}}

{{/* Secret and key holding the Milvus token; empty when there is none. */}}
{{- define "lensdb.milvus.tokenSecret" -}}
{{- if not .Values.milvus.enabled -}}
{{- .Values.externalMilvus.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "lensdb.postgresql.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- $fullname := include "lensdb.subchartFullname" (dict "root" . "chart" "postgresql" "values" .Values.postgresql) -}}
{{- if eq (dig "architecture" "standalone" .Values.postgresql) "replication" -}}
{{- printf "%s-%s" $fullname (dig "primary" "name" "primary" .Values.postgresql) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $fullname -}}
{{- end -}}
{{- else -}}
{{- required "externalPostgresql.host is required when postgresql.enabled is false" .Values.externalPostgresql.host -}}
{{- end -}}
{{- end -}}

{{- define "lensdb.postgresql.port" -}}
{{- if .Values.postgresql.enabled -}}
{{- dig "primary" "service" "ports" "postgresql" 5432 .Values.postgresql -}}
{{- else -}}
{{- .Values.externalPostgresql.port -}}
{{- end -}}
{{- end -}}

{{/* SQLAlchemy URL without the password: libpq reads it from PGPASSWORD, so it needs no URL escaping. */}}
{{- define "lensdb.database.url" -}}
{{- $pg := .Values.postgresql -}}
{{- $user := "" -}}
{{- $db := "" -}}
{{- $query := "" -}}
{{- if $pg.enabled -}}
{{- $user = dig "auth" "username" "" $pg | default "postgres" -}}
{{- $db = dig "auth" "database" "" $pg | default "postgres" -}}
{{- else -}}
{{- $user = .Values.externalPostgresql.username -}}
{{- $db = .Values.externalPostgresql.database -}}
{{- if .Values.externalPostgresql.sslmode -}}
{{- $query = printf "?sslmode=%s" .Values.externalPostgresql.sslmode -}}
{{- end -}}
{{- end -}}
{{- printf "postgresql+psycopg2://%s@%s:%v/%s%s" $user (include "lensdb.postgresql.host" .) (include "lensdb.postgresql.port" .) $db $query -}}
{{- end -}}

{{/* "name key" of the Secret that holds the database password; empty when there is none. */}}
{{- define "lensdb.database.passwordSecret" -}}
{{- $pg := .Values.postgresql -}}
{{- if $pg.enabled -}}
{{- $secret := dig "auth" "existingSecret" "" $pg | default (include "lensdb.subchartFullname" (dict "root" . "chart" "postgresql" "values" $pg)) -}}
{{- $username := dig "auth" "username" "" $pg -}}
{{- $key := "" -}}
{{- if and $username (ne $username "postgres") -}}
{{- $key = dig "auth" "secretKeys" "userPasswordKey" "password" $pg -}}
{{- else -}}
{{- $key = dig "auth" "secretKeys" "adminPasswordKey" "postgres-password" $pg -}}
{{- end -}}
{{- printf "%s %s" $secret $key -}}
{{- else if .Values.externalPostgresql.existingSecret -}}
{{- printf "%s %s" .Values.externalPostgresql.existingSecret .Values.externalPostgresql.existingSecretPasswordKey -}}
{{- end -}}
{{- end -}}

{{/* Helm hook phases of the migration Job: the bundled database only exists after the install. */}}
{{- define "lensdb.migrations.hook" -}}
{{- if .Values.postgresql.enabled -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------------------
Pod pieces. Called with (dict "root" $ "values" .Values.<component> "component" "<name>" "hook" bool).
--------------------------------------------------------------------------------------------------------- */}}

{{/* Environment of every LensDB container: where the data, the database and Milvus are. */}}
{{- define "lensdb.env" -}}
{{- $root := .root -}}
{{- /* The root file system is read-only: anything a library writes under ~ goes to the /tmp emptyDir. */}}
- name: HOME
  value: /tmp
- name: LENSDB_DATA_DIR
  value: {{ $root.Values.persistence.mountPath | quote }}
- name: LENSDB_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: LENSDB_DATABASE_URL
  value: {{ include "lensdb.database.url" $root | quote }}
{{- with include "lensdb.database.passwordSecret" $root }}
{{- $ref := splitList " " . }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ index $ref 0 | quote }}
      key: {{ index $ref 1 | quote }}
{{- end }}
{{- /* A component may name its own survey root (web.surveyRoot); else the release's (surveyRoot). */}}
{{- with (get .values "surveyRoot") | default $root.Values.surveyRoot }}
- name: LENSDB_SURVEY_ROOT
  value: {{ . | quote }}
{{- end }}
- name: LENSDB_MILVUS_URI
  value: {{ include "lensdb.milvus.uri" $root | quote }}
{{- with include "lensdb.milvus.tokenSecret" $root }}
- name: LENSDB_MILVUS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $root.Values.externalMilvus.existingSecretTokenKey | quote }}
{{- end }}
{{- if and $root.Values.config (not .hook) }}
- name: LENSDB_CONFIG
  value: /etc/lensdb/lensdb.toml
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "lensdb.resources" -}}
{{- $resources := deepCopy (.values.resources | default dict) -}}
{{- if gt (int .values.gpus) 0 -}}
{{- $limits := merge (dict "nvidia.com/gpu" (int .values.gpus)) ($resources.limits | default dict) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* Pod-level settings shared by every LensDB pod (the caller adds containers, volumes and restartPolicy). */}}
{{- define "lensdb.podSpec" -}}
{{- $root := .root -}}
{{- /* A pre-install hook runs before the release's ServiceAccount exists: it uses the namespace's default one. */ -}}
serviceAccountName: {{ ternary "default" (include "lensdb.serviceAccountName" $root) (.hook | default false) }}
automountServiceAccountToken: false
{{- /* A Service named lensdb would otherwise inject LENSDB_PORT & co., which look like LensDB settings. */}}
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- $nodeSelector := .values.nodeSelector | default dict }}
{{- $tolerations := .values.tolerations | default list }}
{{- if gt (int .values.gpus) 0 }}
{{- $nodeSelector = merge (dict) $nodeSelector ($root.Values.gpuNodes.nodeSelector | default dict) }}
{{- $tolerations = concat ($root.Values.gpuNodes.tolerations | default list) $tolerations }}
{{- end }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod template metadata: labels plus the component's own labels and annotations. */}}
{{- define "lensdb.podMetadata" -}}
labels:
  {{- include "lensdb.labels" . | nindent 2 }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (dict) (.annotations | default dict) (.values.podAnnotations | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container fields every LensDB container shares. */}}
{{- define "lensdb.containerCommon" -}}
image: {{ include "lensdb.image" . | quote }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
resources:
  {{- include "lensdb.resources" . | nindent 2 }}
{{- end -}}

{{/* Volume mounts: writable /tmp, the data folder, the config file (not in hooks), /dev/shm for GPU jobs. */}}
{{- define "lensdb.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if not .hook }}
- name: data
  mountPath: {{ .root.Values.persistence.mountPath }}
{{- if .root.Values.config }}
- name: config
  mountPath: /etc/lensdb
  readOnly: true
{{- end }}
{{- end }}
{{- if .values.shmSizeLimit }}
- name: dshm
  mountPath: /dev/shm
{{- end }}
{{- end -}}

{{- define "lensdb.volumes" -}}
{{- $root := .root -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $root.Values.tmpSizeLimit }}
{{- if not .hook }}
- name: data
{{- if $root.Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ $root.Values.persistence.existingClaim | default (printf "%s-data" (include "lensdb.fullname" $root)) }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- if $root.Values.config }}
- name: config
  configMap:
    name: {{ include "lensdb.fullname" $root }}-config
{{- end }}
{{- end }}
{{- if .values.shmSizeLimit }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .values.shmSizeLimit }}
{{- end }}
{{- end -}}

{{/* The shard argument of an indexed Job's pod: "$(LENSDB_SHARD_INDEX)/N", expanded by the kubelet. */}}
{{- define "lensdb.shardArg" -}}
{{- printf "$(LENSDB_SHARD_INDEX)/%d" (int .values.shards) -}}
{{- end -}}

{{/* The completion index as an environment variable (the kubelet expands $(VAR) in args from env only). */}}
{{- define "lensdb.shardIndexEnv" -}}
- name: LENSDB_SHARD_INDEX
  valueFrom:
    fieldRef:
      fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
{{- end -}}

{{/* Pod failure policy of the batch jobs: evictions and preemptions do not count against the retry budget;
exit code 2 (LensDB's "bad input or configuration") is not retried. */}}
{{- define "lensdb.podFailurePolicy" -}}
podFailurePolicy:
  rules:
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
    - action: {{ .onConfigError }}
      onExitCodes:
        containerName: {{ .container }}
        operator: In
        values: [2]
{{- end -}}
