// L-shaped domain: the unit square without its upper right quarter.
// Boundary labels: "inlet" (x = 0), "outlet" (x = 1, 0 < y < 0.5),
// "wall" (everything else, including the re-entrant corner's edges).
Mesh.MshFileVersion = 4.1;
h = 0.05;
Point(1) = {0, 0, 0, h};
Point(2) = {1, 0, 0, h};
Point(3) = {1, 0.5, 0, h};
Point(4) = {0.5, 0.5, 0, h};
Point(5) = {0.5, 1, 0, h};
Point(6) = {0, 1, 0, h};
Line(1) = {1, 2};
Line(2) = {2, 3};
Line(3) = {3, 4};
Line(4) = {4, 5};
Line(5) = {5, 6};
Line(6) = {6, 1};
Curve Loop(1) = {1, 2, 3, 4, 5, 6};
Plane Surface(1) = {1};
Physical Curve("inlet") = {6};
Physical Curve("outlet") = {2};
Physical Curve("wall") = {1, 3, 4, 5};
Physical Surface("domain") = {1};
