{{- define "spillway.name" -}}spillway-operator{{- end -}}
{{- /* Cluster-scoped objects (ClusterRole, ClusterRoleBinding) carry the release's namespace and name, so
two releases can live in one cluster without fighting over them. */ -}}
{{- define "spillway.clusterName" -}}
{{- printf "%s-%s-%s" (include "spillway.name" .) .Release.Namespace .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "spillway.labels" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "spillway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
