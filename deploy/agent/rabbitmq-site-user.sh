#!/bin/sh
# Create (or update) the RabbitMQ user of one site's installer agent, allowed exactly what the
# agent does on the bus and nothing more:
#
#   rabbitmq-site-user.sh SITE_ID [NAMESPACE] [VHOST]     (password read from stdin, one line)
#
# The agent (shared/src/lockstep_shared/bus/topology.py, namespace NS, site S):
#   declares the exchanges NS.events (topic) and NS.dead-letter (direct)  -> configure on them
#   declares its queue NS.installer-agent.S with x-dead-letter-exchange NS.dead-letter
#                                      -> configure + read on the queue, write on NS.dead-letter
#   declares NS.installer-agent.S.dead and binds it to NS.dead-letter
#                                      -> configure + write on that queue, read on NS.dead-letter
#   binds its queue to NS.events with "lockstep.install.requested.S"
#                                      -> write on the queue, read on NS.events
#   consumes its queue                 -> read on the queue
#   publishes its events to NS.events  -> write on NS.events
# So configure, write and read are all the same four names. Topic permissions then limit the
# routing keys on NS.events: it may only bind to its own site's install commands (so it can
# never read another site's traffic by binding "#") and only publish its own site's install
# events and heartbeats (so it can never speak for another site).
set -eu

[ "$#" -ge 1 ] || { echo "usage: $0 SITE_ID [NAMESPACE] [VHOST] < password" >&2; exit 2; }
site=$1
ns=${2:-lockstep}
vhost=${3:-/}
case $site in
    '' | *[!a-z0-9-]* | -*) echo "invalid site id '$site'" >&2; exit 2 ;;
esac
case $ns in
    '' | *[!a-z0-9_.-]*) echo "invalid namespace '$ns'" >&2; exit 2 ;;
esac
user="site-$site"
ns_re=$(printf '%s' "$ns" | sed 's/\./\\./g')   # a dot in the namespace is a literal dot
resources="^($ns_re\\.installer-agent\\.$site(\\.dead)?|$ns_re\\.events|$ns_re\\.dead-letter)\$"
reads="^lockstep\\.install\\.requested\\.$site\$"
writes="^lockstep\\.(install\\.(started|progressed|succeeded|failed)|agent\\.heartbeat)\\.$site\$"

IFS= read -r password
[ -n "$password" ] || { echo "empty password" >&2; exit 2; }
if rabbitmqctl -q list_users | cut -f1 | grep -qx "$user"; then
    printf '%s\n' "$password" | rabbitmqctl change_password "$user"
else
    printf '%s\n' "$password" | rabbitmqctl add_user "$user"
fi
rabbitmqctl set_permissions -p "$vhost" "$user" "$resources" "$resources" "$resources"
rabbitmqctl set_topic_permissions -p "$vhost" "$user" "$ns.events" "$writes" "$reads"
echo "user $user: configure/write/read $resources"
echo "topic $ns.events: publish $writes, bind $reads"
