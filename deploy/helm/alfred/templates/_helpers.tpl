{{/* Names and labels shared by every object of the release. */}}
{{- define "alfred.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "alfred.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "alfred.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "alfred.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "alfred.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alfred.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "alfred.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "alfred.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "alfred.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Alfred YAML: `config`, plus a vault section when Alfred reads Vault itself. */}}
{{- define "alfred.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- if and .Values.vault.enabled (or .Values.vault.approleSecret .Values.vault.tokenSecret) -}}
{{- $vault := dict "url" .Values.vault.address "ttl_s" .Values.vault.ttlSeconds -}}
{{- if .Values.vault.namespace -}}
{{- $_ := set $vault "namespace" .Values.vault.namespace -}}
{{- end -}}
{{- if .Values.vault.approleSecret -}}
{{- $_ := set $vault "approle" (dict "role_id" "env:VAULT_ROLE_ID" "secret_id" "env:VAULT_SECRET_ID" "mount" .Values.vault.approleMount) -}}
{{- else -}}
{{- $_ := set $vault "token" "env:VAULT_TOKEN" -}}
{{- end -}}
{{- $_ := set $config "vault" $vault -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "alfred.configMapName" -}}
{{- default (printf "%s-config" (include "alfred.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{/* Environment of every Alfred container: where the config is, and secrets from existing Secrets. */}}
{{- define "alfred.env" -}}
- name: ALFRED_CONFIG
  value: /etc/alfred/alfred.yaml
{{- with .Values.database.existingSecret }}
- name: ALFRED_LEDGER__DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.database.urlKey }}}
{{- if $.Values.database.replicaUrlKey }}
- name: ALFRED_LEDGER__REPLICA_URL
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.database.replicaUrlKey }}}
{{- end }}
{{- end }}
{{- if .Values.vault.enabled }}
{{- with .Values.vault.approleSecret }}
- name: VAULT_ROLE_ID
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: role-id}
- name: VAULT_SECRET_ID
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: secret-id}
{{- end }}
{{- if and .Values.vault.tokenSecret (not .Values.vault.approleSecret) }}
- name: VAULT_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.vault.tokenSecret }}, key: token}
{{- end }}
{{- end }}
{{- range .Values.secrets.env }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef: {name: {{ .secretName }}, key: {{ .key }}}
{{- end }}
{{- end -}}

{{/* Vault Agent Injector annotations: each secret is written to /vault/secrets/NAME (use file: refs). */}}
{{- define "alfred.vaultAgentAnnotations" -}}
{{- if and .Values.vault.enabled .Values.vault.agentInjector.enabled }}
vault.hashicorp.com/agent-inject: "true"
vault.hashicorp.com/role: {{ .Values.vault.agentInjector.role | quote }}
{{- range $name, $path := .Values.vault.agentInjector.secrets }}
vault.hashicorp.com/agent-inject-secret-{{ $name }}: {{ $path | quote }}
{{- end }}
{{- end }}
{{- end -}}
