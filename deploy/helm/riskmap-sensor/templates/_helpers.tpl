{{- define "riskmap-sensor.name" -}}riskmap-sensor{{- end -}}
{{- define "riskmap-sensor.secret" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}{{ .Release.Name }}-riskmap-sensor{{- end -}}
{{- end -}}
