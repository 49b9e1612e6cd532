// Controller: the one shape ControllerManager knows a control loop by.
//
// A controller is built with the client::Interface and the manager's
// client::SharedInformerFactory (registering its informer handlers in its
// constructor), then started and stopped by the manager:
//
//   class FooController : public Controller {
//    public:
//     FooController(client::Interface&, client::SharedInformerFactory&,
//                   FooOptions);
//     Status Start() override;  // spawn the workers
//     void Stop() override;     // shut the queue down, join the workers
//   };
//
// Adding a controller to `kite server` is one line in ControllerManager's
// constructor (controller_manager.cpp).
//
// Threading: Start() and Stop() are called from the manager's owner, Start()
// at most once; Stop() must be idempotent (destructors call it too) and may
// follow a failed or missing Start().
#pragma once

#include "common/status.h"

namespace kite::controllers {

class Controller {
 public:
  virtual ~Controller() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
};

}  // namespace kite::controllers
