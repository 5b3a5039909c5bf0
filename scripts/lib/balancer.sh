# Sourced by scripts/native-stack-check and scripts/load-test: nginx from Debian's package as the
# balancer in front of several gunicorn instances, running deploy/nginx-ivig-clinic.conf (the file
# docker-compose.yml's "proxy" service mounts) with 127.0.0.1 addresses in place of web-N:8000.

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "nginx: installing Debian's nginx-light (the balancer in front of the web instances)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  else
    echo "nginx is missing: install Debian's 'nginx-light' package (the balancer in front of the web instances)"
    return 1
  fi
}

# balancer_config DIR LISTEN_PORT WEB_PORT...: writes DIR/nginx.conf, a main configuration whose
# logs, pid and temporary files stay in DIR, including DIR/ivig-clinic.conf, the compose site file
# with web-1:8000, web-2:8000... replaced by 127.0.0.1:WEB_PORT in order.
balancer_config() {
  local dir listen n=1 site
  dir="$(cd "$1" && pwd)"
  listen="$2"
  shift 2
  site="$(sed "s/listen 8000;/listen 127.0.0.1:$listen;/" deploy/nginx-ivig-clinic.conf)"
  # The compose file names three instances; lines for instances not started here are dropped.
  for port in "$@"; do
    site="$(sed "s/server web-$n:8000 /server 127.0.0.1:$port /" <<<"$site")"
    n=$((n + 1))
  done
  grep -v 'server web-[0-9]*:8000' <<<"$site" >"$dir/ivig-clinic.conf"
  mkdir -p "$dir/nginx-temp"
  {
    # As root, nginx would hand its workers to "nobody", who cannot write under this folder.
    [ "$(id -u)" = 0 ] && echo "user root;"
    echo "worker_processes 1;"
    echo "daemon off;"
    echo "pid $dir/nginx.pid;"
    echo "error_log $dir/nginx-error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log off;"
    for kind in client_body proxy fastcgi uwsgi scgi; do echo "  ${kind}_temp_path $dir/nginx-temp/$kind;"; done
    echo "  include $dir/ivig-clinic.conf;"
    echo "}"
  } >"$dir/nginx.conf"
  nginx -t -q -c "$dir/nginx.conf" -p "$dir"
}
