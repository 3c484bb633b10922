# console: the serial console as a person uses it, typed by the host
# (qemu-tests/lib/console.py) with TERM=dumb: `upd status` at the first
# prompt, while the supervisor is still starting, shows the services (not
# "no supervisor is running"); `upd status` shows the supervisor's view
# (PROCESS) and the service's own state (STATE, `up` for pppoe); `upd` alone
# is `upd status` and `upd show` alone lists the published services (not the
# usage); no colour escapes with TERM=dumb. This side starts upd as /init
# does and hands the console to a shell.
# needs: upscript
# driver: console.py
# timeout: 150

start_upd
echo "@@CONSOLE"
export TERM=dumb PS1='router# '
exec setsid cttyhack sh -i
