def explicit(net, batch=1): raise NotImplementedError
