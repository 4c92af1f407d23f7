"""mip-gateway: the MIP front ends' HTTP/JSON API (Exaflow's routes and payloads) over ControllerService."""
