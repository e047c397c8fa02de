// Unix datagram sockets (native/datagram.cc) for systemd's notify protocol
// (NOTIFY_SOCKET), which Node's dgram module does not speak: adds
// bindDatagram, recvDatagram, sendDatagram, notifyBarrier and pipeEnded to
// the addon's exports.
#pragma once

#include <napi.h>

void RegisterDatagram(Napi::Env env, Napi::Object exports);
