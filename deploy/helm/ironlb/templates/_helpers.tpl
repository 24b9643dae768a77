{{/* Labels on every object's metadata (selectors keep the kustomize manifests' two). */}}
{{- define "ironlb.labels" -}}
app.kubernetes.io/name: ironlb
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{- define "ironlb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Arguments both binaries take. */}}
{{- define "ironlb.commonArgs" -}}
- "--namespace=$(POD_NAMESPACE)"
- "--metrics-addr=0.0.0.0:7472"
{{- with .Values.loadBalancerClass }}
- {{ printf "--lb-class=%s" . | quote }}
{{- end }}
{{- end -}}
