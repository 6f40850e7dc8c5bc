{{- define "riskmap-console.name" -}}riskmap-console{{- end -}}
{{- define "riskmap-console.fullname" -}}{{ .Release.Name }}-riskmap-console{{- end -}}
{{- define "riskmap-console.labels" -}}
app.kubernetes.io/name: {{ include "riskmap-console.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "riskmap-console.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecret }}{{- else -}}{{ include "riskmap-console.fullname" . }}-database{{- end -}}
{{- end -}}
{{- define "riskmap-console.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}{{ .Values.tls.existingSecret }}{{- else -}}{{ include "riskmap-console.fullname" . }}-tls{{- end -}}
{{- end -}}
{{- define "riskmap-console.secretsKeySecret" -}}
{{- if .Values.secretsKey.existingSecret -}}{{ .Values.secretsKey.existingSecret }}{{- else -}}{{ include "riskmap-console.fullname" . }}-secrets-key{{- end -}}
{{- end -}}
