/* libipc umbrella header: include this one. */
#ifndef IPC_IPC_H
#define IPC_IPC_H

#include <ipc/version.h>
#include <ipc/channel.h>
#include <ipc/driver.h>
#include <ipc/signal.h>

#endif
