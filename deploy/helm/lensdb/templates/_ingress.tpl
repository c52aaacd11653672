{{- /* An Ingress for one component's Service: .ctx (the component context), .ingress (its values), .port (the
       Service port's name), .extraAnnotations (a dict merged under the user's annotations). */}}
{{- define "lensdb.ingress" -}}
{{- $ing := .ingress -}}
{{- $name := include "lensdb.componentName" .ctx -}}
{{- if not $ing.host }}
{{- fail (printf "%s.ingress.host: set the host name the Ingress answers for (e.g. lensdb.example.org)" .ctx.component) }}
{{- end }}
{{- $annotations := merge (deepCopy ($ing.annotations | default dict)) (.extraAnnotations | default dict) }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $name }}
  labels:
    {{- include "lensdb.labels" .ctx | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . | quote }}
  {{- end }}
  {{- if $ing.tls.enabled }}
  tls:
    - hosts:
        - {{ $ing.host | quote }}
      secretName: {{ $ing.tls.secretName | default (printf "%s-tls" $name) | quote }}
  {{- end }}
  rules:
    - host: {{ $ing.host | quote }}
      http:
        paths:
          - path: {{ $ing.path | quote }}
            pathType: {{ $ing.pathType }}
            backend:
              service:
                name: {{ $name }}
                port:
                  name: {{ .port }}
{{- end -}}
