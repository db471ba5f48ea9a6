// The unit cube in tetrahedra with one label per face: "left"/"right"
// (x = 0/1), "front"/"back" (y = 0/1), "bottom"/"top" (z = 0/1), as the
// built-in box meshes name them.
SetFactory("OpenCASCADE");
Mesh.MshFileVersion = 4.1;
Mesh.CharacteristicLengthMax = 0.2;
Box(1) = {0, 0, 0, 1, 1, 1};
Physical Surface("left") = {1};
Physical Surface("right") = {2};
Physical Surface("front") = {3};
Physical Surface("back") = {4};
Physical Surface("bottom") = {5};
Physical Surface("top") = {6};
Physical Volume("domain") = {1};
